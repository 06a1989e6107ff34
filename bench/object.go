package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The synthetic objects the origin serves. An object's name is its size
// ("1k", "64k", "1m", "5g"), so no object is ever stored: every body is
// generated on the fly from one immutable pattern buffer.

// patternSize is the length of the repeating body pattern (1 MiB), so a
// 1 MiB object or any range within the first MiB is a sub-slice of it.
const patternSize = 1 << 20

// maxObjectSize bounds what parseSize accepts (1 TiB) so that sizes never
// overflow int64 arithmetic on offsets.
const maxObjectSize = 1 << 40

// pattern is the body of every object: byte i of an object is pattern[i%patternSize].
// Built once at start and never written afterwards, so handlers share it
// without locks and fasthttp may reference it with SetBodyRaw.
var pattern = buildPattern()

func buildPattern() []byte {
	b := make([]byte, patternSize)
	// A non-trivial sequence (not all zeros) so a proxy that compresses or
	// dedups cannot shortcut the copy; deterministic so ranges are checkable.
	var x uint32 = 2463534242
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

var errBadSize = errors.New("not a size")

// parseSize parses an object name such as "1k", "64K", "10m", "5g" or "123"
// into bytes. The suffixes k, m and g are powers of 1024; a bare number is
// bytes.
func parseSize(name string) (int64, error) {
	if name == "" {
		return 0, fmt.Errorf("bench: object %q: %w", name, errBadSize)
	}
	digits := name
	var unit int64 = 1
	switch name[len(name)-1] {
	case 'k', 'K':
		unit = 1 << 10
	case 'm', 'M':
		unit = 1 << 20
	case 'g', 'G':
		unit = 1 << 30
	}
	if unit != 1 {
		digits = name[:len(name)-1]
	}
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("bench: object %q: %w", name, errBadSize)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > maxObjectSize/unit {
		return 0, fmt.Errorf("bench: object %q: %w (at most 1 TiB)", name, errBadSize)
	}
	return n * unit, nil
}

// rangeKind says how a Range header applies to an object.
type rangeKind int

const (
	rangeNone          rangeKind = iota // absent, multi-range or malformed: serve the whole object
	rangeOK                             // a single satisfiable range: 206
	rangeUnsatisfiable                  // syntactically valid but outside the object: 416
)

// parseRange interprets a Range header value against an object of size
// bytes. Only a single "bytes=a-b", "bytes=a-" or "bytes=-n" range is
// honoured; like S3, anything else falls back to the whole object.
// It returns the first byte and the length of the range.
func parseRange(h string, size int64) (start, length int64, kind rangeKind) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, rangeNone
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, rangeNone
	}
	if first == "" {
		// Suffix range: the last n bytes.
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, size, rangeNone
		}
		if n == 0 || size == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		n = min(n, size)
		return size - n, n, rangeOK
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, size, rangeNone
	}
	b := size - 1
	if last != "" {
		b, err = strconv.ParseInt(last, 10, 64)
		if err != nil || b < a {
			return 0, size, rangeNone
		}
	}
	if a >= size {
		return 0, 0, rangeUnsatisfiable
	}
	b = min(b, size-1)
	return a, b - a + 1, rangeOK
}

// patternReader streams length bytes of an object starting at object offset
// off. It never allocates per byte and never holds more than the shared
// pattern, so a 5 GiB body costs the same memory as a 1 KiB one.
type patternReader struct {
	off       int64 // object offset of the next byte
	remaining int64 // bytes still to produce
}

// Read implements io.Reader for callers that do not use WriteTo.
func (r *patternReader) Read(p []byte) (int, error) {
	if r.remaining <= 0 {
		return 0, io.EOF
	}
	n := 0
	for len(p) > 0 && r.remaining > 0 {
		chunk := pattern[r.off%patternSize:]
		chunk = chunk[:min(int64(len(chunk)), r.remaining)]
		c := copy(p, chunk)
		p = p[c:]
		n += c
		r.off += int64(c)
		r.remaining -= int64(c)
	}
	return n, nil
}

// WriteTo hands w slices of the pattern directly, up to 1 MiB per Write,
// so the kernel sees big writes and no intermediate copy is made.
func (r *patternReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.remaining > 0 {
		chunk := pattern[r.off%patternSize:]
		chunk = chunk[:min(int64(len(chunk)), r.remaining)]
		n, err := w.Write(chunk)
		total += int64(n)
		r.off += int64(n)
		r.remaining -= int64(n)
		if err != nil {
			return total, err
		}
		if n < len(chunk) {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}
