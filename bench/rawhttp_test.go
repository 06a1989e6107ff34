package main

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	const next = "HTTP/1.1 204 No Content\r\n\r\n" // must remain readable after each case
	tests := []struct {
		name      string
		in        string
		head      bool
		wantSt    int
		wantBody  int64
		wantClose bool
		wantErr   bool
	}{
		{
			name:   "content-length",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\nhello" + next,
			wantSt: 200, wantBody: 5,
		},
		{
			name:   "header names are case-insensitive",
			in:     "HTTP/1.1 206 Partial Content\r\ncontent-length:3\r\n\r\nabc" + next,
			wantSt: 206, wantBody: 3,
		},
		{
			name:   "chunked with extension and trailer",
			in:     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n" + next,
			wantSt: 200, wantBody: 15,
		},
		{
			name:   "HEAD announces a length but has no body",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n" + next,
			head:   true,
			wantSt: 200, wantBody: 0,
		},
		{
			name:   "304 has no body",
			in:     "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n" + next,
			wantSt: 304, wantBody: 0,
		},
		{
			name:   "404 body is read",
			in:     "HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\n<Error>" + next,
			wantSt: 404, wantBody: 7,
		},
		{
			name:   "connection close",
			in:     "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok" + next,
			wantSt: 200, wantBody: 2, wantClose: true,
		},
		{
			name:   "HTTP/1.0 closes unless keep-alive",
			in:     "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok" + next,
			wantSt: 200, wantBody: 2, wantClose: true,
		},
		{
			name:   "HTTP/1.0 keep-alive",
			in:     "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok" + next,
			wantSt: 200, wantBody: 2,
		},
		{
			name:   "no framing reads to EOF",
			in:     "HTTP/1.1 200 OK\r\n\r\nuntil the end",
			wantSt: 200, wantBody: 13, wantClose: true,
		},
		{name: "short body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", wantErr: true},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: true},
		{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: true},
		{name: "bad content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: true},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: true},
		{name: "header without colon", in: "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A small buffer so bodies span several refills.
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 64)
			r, err := readResponse(br, tt.head)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("readResponse = %+v, want an error", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tt.wantSt || r.bodyBytes != tt.wantBody || r.close != tt.wantClose {
				t.Fatalf("readResponse = %+v; want status %d, body %d, close %v", r, tt.wantSt, tt.wantBody, tt.wantClose)
			}
			if r.close {
				return
			}
			// Exactly one response was consumed: the next one parses.
			if r2, err := readResponse(br, false); err != nil || r2.status != 204 {
				t.Fatalf("next response: %+v, %v", r2, err)
			}
			if consumed := int64(len(tt.in) - len(next)); r.bytes != consumed {
				t.Fatalf("bytes = %d, want %d", r.bytes, consumed)
			}
		})
	}
}

func TestReadResponseEOF(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{name: "closed before anything", in: "", want: io.EOF},
		{name: "closed mid-line", in: "HTTP/1.1 200", want: io.ErrUnexpectedEOF},
		{name: "closed mid-body", in: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", want: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readResponse(bufio.NewReader(strings.NewReader(tt.in)), false)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func BenchmarkReadResponse(b *testing.B) {
	b.ReportAllocs()
	resp := "HTTP/1.1 200 OK\r\nServer: AmazonS3\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n" +
		"ETag: \"bench-1024\"\r\nAccept-Ranges: bytes\r\n\r\n" + strings.Repeat("x", 1024)
	rd := strings.NewReader(resp)
	br := bufio.NewReaderSize(rd, 64<<10)
	for b.Loop() {
		rd.Reset(resp)
		br.Reset(rd)
		if _, err := readResponse(br, false); err != nil {
			b.Fatal(err)
		}
	}
}
