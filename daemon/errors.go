package daemon

import (
	"errors"
	"fmt"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
)

// Error is a failed request with its error class (proto.EEXIST...).
type Error struct {
	Errno string
	Err   error
}

// Error returns the message.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func errorf(errno, format string, a ...any) error {
	return &Error{Errno: errno, Err: fmt.Errorf(format, a...)}
}

// Errno returns the error class of err (EIO when it has none).
func Errno(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Errno
	}
	return proto.EIO
}
