package cli

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
	tLBrace
	tRBrace
	tLParen
	tRParen
	tSemi
	tComma
	tNewline
)

func (k tokKind) String() string {
	switch k {
	case tEOF:
		return "end of input"
	case tWord:
		return "word"
	case tLBrace:
		return `"{"`
	case tRBrace:
		return `"}"`
	case tLParen:
		return `"("`
	case tRParen:
		return `")"`
	case tSemi:
		return `";"`
	case tComma:
		return `","`
	case tNewline:
		return "end of line"
	}
	return "token"
}

// token is one lexical token. Words are maximal runs of bytes that are
// neither whitespace nor one of the punctuation characters "{}();,#".
type token struct {
	kind tokKind
	text string
	off  int // byte offset of the first byte
	end  int // byte offset after the last byte
	pos  Pos
	// spaceBefore reports whether whitespace, a comment or the start of
	// the input precedes the token.
	spaceBefore bool
}

// describe quotes the token for error messages.
func (t token) describe() string {
	if t.kind == tWord {
		return `"` + t.text + `"`
	}
	return t.kind.String()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

func isPunct(c byte) bool {
	switch c {
	case '{', '}', '(', ')', ';', ',', '#', '\n':
		return true
	}
	return isSpace(c)
}

// lex splits src into tokens. It never fails: every byte belongs to a word,
// a punctuation token, whitespace or a comment. The last token is tEOF.
func lex(filename string, src []byte) []token {
	toks := make([]token, 0, len(src)/5+1)
	line, lineStart := 1, 0
	space := true
	for i := 0; i < len(src); {
		c := src[i]
		pos := Pos{Filename: filename, Line: line, Column: i - lineStart + 1}
		switch {
		case isSpace(c):
			i++
			space = true
			continue
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			space = true
			continue
		case c == '\n':
			toks = append(toks, token{kind: tNewline, text: "\n", off: i, end: i + 1, pos: pos, spaceBefore: space})
			i++
			line, lineStart = line+1, i
			space = true
			continue
		}
		kind := tWord
		switch c {
		case '{':
			kind = tLBrace
		case '}':
			kind = tRBrace
		case '(':
			kind = tLParen
		case ')':
			kind = tRParen
		case ';':
			kind = tSemi
		case ',':
			kind = tComma
		}
		start := i
		if kind == tWord {
			for i < len(src) && !isPunct(src[i]) {
				i++
			}
		} else {
			i++
		}
		toks = append(toks, token{kind: kind, text: string(src[start:i]), off: start, end: i, pos: pos, spaceBefore: space})
		space = false
	}
	toks = append(toks, token{kind: tEOF, off: len(src), end: len(src),
		pos: Pos{Filename: filename, Line: line, Column: len(src) - lineStart + 1}, spaceBefore: true})
	return toks
}
