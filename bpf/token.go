package bpf

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BPF commands used by the token code (values from the kernel's uapi
// linux/bpf.h, enum bpf_cmd).
const (
	cmdMapCreate      = 0
	cmdProgLoad       = 5
	cmdObjGetInfoByFD = 15
	cmdTokenCreate    = 36
)

// Token is a BPF token (BPF_TOKEN_CREATE): the right to create the maps
// and programs a bpffs mount was configured to delegate (mount options
// delegate_cmds, delegate_maps, delegate_progs, delegate_attachs). The
// kernel only issues tokens from a bpffs owned by a non-initial user
// namespace, to a process inside that namespace.
//
// cilium/ebpf v0.22.0 has no option to pass a token file descriptor to a
// load: it finds a token by itself, once per process, from the bpffs mounts
// of the process's mount namespace, and adds it to every BPF_MAP_CREATE,
// BPF_PROG_LOAD and BPF_BTF_LOAD. A Token made from the same mount is the
// same delegation; Load uses it to check, before loading, that every map
// and program type of the spec is delegated (when the kernel reports token
// details, Linux 6.17 and later) so refusals name the missing type.
type Token struct {
	fd   int
	info *tokenInfo
}

// tokenInfo is struct bpf_token_info.
type tokenInfo struct {
	AllowedCmds    uint64
	AllowedMaps    uint64
	AllowedProgs   uint64
	AllowedAttachs uint64
}

// NewToken creates a token from the bpffs mounted at path.
func NewToken(path string) (*Token, error) {
	dirfd, err := unix.Open(path, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("bpf token: open bpffs %s: %w", path, err)
	}
	defer unix.Close(dirfd)
	attr := struct{ flags, bpffsFD uint32 }{0, uint32(dirfd)}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, cmdTokenCreate, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return nil, fmt.Errorf("bpf token: BPF_TOKEN_CREATE from %s: %w%s", path, errno, tokenHint(errno))
	}
	t := &Token{fd: int(fd)}
	info, err := tokenInfoOf(t.fd)
	if err != nil {
		_ = unix.Close(t.fd)
		return nil, fmt.Errorf("bpf token from %s: %w", path, err)
	}
	t.info = info
	return t, nil
}

func tokenHint(errno unix.Errno) string {
	switch errno {
	case unix.EOPNOTSUPP:
		return " (tokens cannot be created in the initial user namespace)"
	case unix.ENOENT:
		return " (the bpffs delegates nothing: mount it with delegate_* options)"
	case unix.EPERM:
		return " (the bpffs is not owned by this user namespace, or CAP_BPF is missing)"
	case unix.EINVAL:
		return " (the kernel lacks BPF tokens or the path is not a bpffs)"
	}
	return ""
}

// tokenInfoOf reads struct bpf_token_info; nil on kernels before 6.17,
// which do not report it.
func tokenInfoOf(fd int) (*tokenInfo, error) {
	info := new(tokenInfo)
	var pin runtime.Pinner
	pin.Pin(info)
	defer pin.Unpin()
	attr := struct {
		fd, infoLen uint32
		info        uint64
	}{uint32(fd), uint32(unsafe.Sizeof(*info)), uint64(uintptr(unsafe.Pointer(info)))}
	_, _, errno := unix.Syscall(unix.SYS_BPF, cmdObjGetInfoByFD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno == unix.EINVAL {
		return nil, nil
	}
	if errno != 0 {
		return nil, fmt.Errorf("token info: %w", errno)
	}
	return info, nil
}

// FD returns the token's file descriptor.
func (t *Token) FD() int { return t.fd }

// Close releases the token.
func (t *Token) Close() error {
	if t == nil || t.fd < 0 {
		return nil
	}
	err := unix.Close(t.fd)
	t.fd = -1
	if err != nil {
		return fmt.Errorf("close bpf token: %w", err)
	}
	return nil
}

// ErrTokenDenied is wrapped by errors of Load when the token does not
// delegate what the spec needs.
var ErrTokenDenied = errors.New("not delegated by the bpf token")

// allows checks the spec's map and program types against the token. With
// no token details from the kernel it cannot check and returns nil.
func (t *Token) allows(spec *ebpf.CollectionSpec) error {
	if t.info == nil {
		return nil
	}
	if len(spec.Maps) > 0 && t.info.AllowedCmds&(1<<cmdMapCreate) == 0 {
		return fmt.Errorf("command BPF_MAP_CREATE: %w", ErrTokenDenied)
	}
	if len(spec.Programs) > 0 && t.info.AllowedCmds&(1<<cmdProgLoad) == 0 {
		return fmt.Errorf("command BPF_PROG_LOAD: %w", ErrTokenDenied)
	}
	for name, m := range spec.Maps {
		if m.Type < 64 && t.info.AllowedMaps&(1<<uint(m.Type)) == 0 {
			return fmt.Errorf("map %s of type %s: %w", name, m.Type, ErrTokenDenied)
		}
	}
	for name, p := range spec.Programs {
		if p.Type < 64 && t.info.AllowedProgs&(1<<uint(p.Type)) == 0 {
			return fmt.Errorf("program %s of type %s: %w", name, p.Type, ErrTokenDenied)
		}
		if p.AttachType != 0 && p.AttachType < 64 && t.info.AllowedAttachs&(1<<uint(p.AttachType)) == 0 {
			return fmt.Errorf("program %s attach type %s: %w", name, p.AttachType, ErrTokenDenied)
		}
	}
	return nil
}
