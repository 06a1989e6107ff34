package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// A minimal HTTP/1.1 response reader for the built-in load generator: it
// parses the status line and the framing headers and discards the body,
// whatever its size, through one fixed buffer. Nothing is allocated per
// response, so the generator spends its CPU on the socket, not on garbage.

var errBadResponse = errors.New("malformed HTTP response")

// response is what the load generator needs to know about one response.
type response struct {
	status    int
	bytes     int64 // everything read: status line, headers and body
	bodyBytes int64
	close     bool // the server will close the connection after this response
}

// readResponse reads one response from br and discards its body. head says
// the request was HEAD, whose response has no body whatever it announces.
func readResponse(br *bufio.Reader, head bool) (response, error) {
	return readResponseCapture(br, head, nil)
}

// maxCapture bounds the body bytes readResponseCapture keeps.
const maxCapture = 1024

// readResponseCapture is readResponse that, when capture is not nil and the
// status is not 2xx, also copies the first maxCapture bytes of a
// Content-Length body into *capture (reusing its storage): what a failed
// request was told. Chunked and unframed bodies are not captured.
func readResponseCapture(br *bufio.Reader, head bool, capture *[]byte) (response, error) {
	var r response
	line, err := readLine(br, &r)
	if err != nil {
		return r, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return r, fmt.Errorf("bench: status line %q: %w", line, errBadResponse)
	}
	http10 := line[7] == '0'
	status, ok := parseUint(line[9:12], 10)
	if !ok {
		return r, fmt.Errorf("bench: status line %q: %w", line, errBadResponse)
	}
	r.status = int(status)
	r.close = http10
	contentLength := int64(-1)
	chunked := false
	for {
		line, err := readLine(br, &r)
		if err != nil {
			return r, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return r, fmt.Errorf("bench: header %q: %w", line, errBadResponse)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			var ok bool
			contentLength, ok = parseUint(value, 10)
			if !ok {
				return r, fmt.Errorf("bench: content-length %q: %w", value, errBadResponse)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				r.close = true
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				r.close = false
			}
		}
	}
	switch {
	case head || r.status/100 == 1 || r.status == 204 || r.status == 304:
		return r, nil
	case chunked:
		return r, discardChunked(br, &r)
	case contentLength >= 0:
		if capture != nil && r.status/100 != 2 {
			// Peek waits for the bytes (they are part of the body) or
			// returns what came before an error, which discard reports.
			b, _ := br.Peek(int(min(contentLength, maxCapture)))
			*capture = append((*capture)[:0], b...)
		}
		return r, discard(br, &r, contentLength)
	default:
		// No framing: the body runs until the server closes.
		r.close = true
		n, err := io.Copy(io.Discard, br)
		r.bytes += n
		r.bodyBytes += n
		return r, err
	}
}

// parseUint parses a non-empty unsigned decimal or hexadecimal number
// below 2^62 without allocating (strconv would need a string).
func parseUint(b []byte, base int64) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d int64
		switch {
		case c >= '0' && c <= '9':
			d = int64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = int64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = int64(c-'A') + 10
		default:
			return 0, false
		}
		n = n*base + d
	}
	return n, true
}

// readLine reads one CRLF- or LF-terminated line without the terminator.
// The returned slice aliases br's buffer: valid until the next read.
func readLine(br *bufio.Reader, r *response) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	r.bytes += int64(len(line))
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("bench: header line too long: %w", errBadResponse)
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// discard skips n body bytes.
func discard(br *bufio.Reader, r *response, n int64) error {
	for n > 0 {
		// Discard takes an int; step in 1 GiB pieces for 32-bit safety.
		step := int(min(n, 1<<30))
		d, err := br.Discard(step)
		r.bytes += int64(d)
		r.bodyBytes += int64(d)
		n -= int64(d)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// discardChunked skips a chunked body and its trailers.
func discardChunked(br *bufio.Reader, r *response) error {
	for {
		line, err := readLine(br, r)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		size, ok := parseUint(bytes.TrimSpace(line), 16)
		if !ok {
			return fmt.Errorf("bench: chunk size %q: %w", line, errBadResponse)
		}
		if size == 0 {
			// Trailers, then the empty line.
			for {
				line, err := readLine(br, r)
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if err := discard(br, r, size); err != nil {
			return err
		}
		if _, err := readLine(br, r); err != nil { // CRLF after the chunk data
			return err
		}
	}
}
