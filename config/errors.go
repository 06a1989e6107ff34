package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is wrapped by every error Load returns for a file that was read but
// is not a valid configuration, so callers can tell it from an I/O error.
var ErrInvalid = errors.New("config: invalid configuration")

// Error is one problem with one key of one file. Load joins all the problems it
// finds (errors.Join) so a user fixes them in one pass.
type Error struct {
	// File is the configuration file's path.
	File string
	// Key is the key's path, e.g. "buckets[1].s3.endpoint"; empty for a problem
	// with the file as a whole.
	Key string
	// Line is the 1-based line of the key in File, or 0 when unknown (a required
	// key that is absent is reported at its table's line).
	Line int
	// Reason says what is wrong and, where it helps, what to write instead.
	Reason string
}

// Error formats as "file:line: key: reason", like a compiler.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap makes every *Error match ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// problems collects Errors for one file, with line numbers from its key index.
type problems struct {
	file  string
	lines keyLines
	list  []*Error
}

// add records a problem with key; the reason is formatted like fmt.Sprintf.
func (p *problems) add(key, format string, args ...any) {
	p.list = append(p.list, &Error{File: p.file, Key: key, Line: p.lines.lineOf(key), Reason: fmt.Sprintf(format, args...)})
}

// err returns the problems in file order, joined, or nil when there are none.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool { return p.list[i].Line < p.list[j].Line })
	errs := make([]error, len(p.list))
	for i, e := range p.list {
		errs[i] = e
	}
	return errors.Join(errs...)
}
