package gateway

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// AccessLog writes one line per request, JSON or logfmt text in the shape
// log/slog's handlers give (time, level, msg, then the fields), into a
// buffered writer that is flushed at least every second and on Close. Lines
// are encoded by hand into a pooled buffer: slog's handlers cost five
// allocations and a few microseconds per line, which on a proxy is a fifth of
// the request. Lines carry no secrets: no query string, no header values, no
// token — only the verified token's subject. Safe for concurrent use.
type AccessLog struct {
	json bool
	w    *flushingWriter
}

// NewAccessLog writes JSON (json true) or text lines to out.
func NewAccessLog(out io.Writer, json bool) *AccessLog {
	return &AccessLog{json: json, w: newFlushingWriter(out, time.Second)}
}

// Close flushes what is buffered and stops the flusher.
func (a *AccessLog) Close() error { return a.w.Close() }

// lineBuf is a pooled line buffer, with the formatted second of the last
// line it held: the next line in the same second formats only its fraction
// (time.AppendFormat was 40 % of a line's cost). Used by one goroutine at a
// time; the zero value is ready.
type lineBuf struct {
	b     []byte
	clock secondStamp
}

var lineBufPool = sync.Pool{New: func() any { return &lineBuf{b: make([]byte, 0, 512)} }}

// log writes r's line, completed at now.
func (a *AccessLog) log(r *request, bytes int64, now time.Time) {
	l := lineBufPool.Get().(*lineBuf)
	l.b = l.appendLine(l.b[:0], a.json, r, bytes, now, now.Sub(r.start))
	_, _ = a.w.Write(l.b)
	lineBufPool.Put(l)
}

// appendLine appends r's line, written at now after took, formatting the
// time through l's cached second.
func (l *lineBuf) appendLine(dst []byte, json bool, r *request, bytes int64, now time.Time, took time.Duration) []byte {
	return encodeLine(dst, json, &l.clock, r, bytes, now, took)
}

// appendLine appends r's line, written at now after took.
func appendLine(dst []byte, json bool, r *request, bytes int64, now time.Time, took time.Duration) []byte {
	return encodeLine(dst, json, nil, r, bytes, now, took)
}

// encodeLine appends r's line; clock, when not nil, caches the formatted
// second.
func encodeLine(dst []byte, json bool, clock *secondStamp, r *request, bytes int64, now time.Time, took time.Duration) []byte {
	bucket, breaker := unroutedLabel, ""
	if r.b != nil {
		bucket = r.b.Name()
		if r.b.BreakerEnabled() {
			breaker = r.b.Snapshot().Breaker.State.String()
		}
	}
	e := lineEncoder{buf: dst, json: json, clock: clock}
	e.begin(now)
	e.bytes("request_id", r.rid[:])
	e.key("client_ip")
	e.raw(r.client.AppendTo(e.scratch[:0]))
	e.str("method", r.method.String())
	e.str("bucket", bucket)
	e.bytes("key", r.key)
	e.int("status", int64(r.status))
	e.int("bytes", bytes)
	e.millis("duration_ms", took.Microseconds())
	e.int("attempts", int64(r.attempts))
	e.str("breaker", breaker)
	e.str("subject", r.subject)
	e.str("reason", r.reason)
	e.end()
	return e.buf
}

// lineEncoder appends one log line byte for byte as slog's handlers would
// (TestAccessLineMatchesSlog): JSON escapes '"', '\\', control characters,
// U+2028 and U+2029 and writes invalid UTF-8 as U+FFFD; text quotes a value
// (strconv.Quote) when it is empty or holds a space, '=', '"', a control
// character or a rune that is not printable.
type lineEncoder struct {
	buf     []byte
	json    bool
	clock   *secondStamp // nil: format the time in full
	scratch [64]byte
}

// begin starts the line with its time (none when now is zero; to the
// nanosecond in JSON, the millisecond in text, as in slog), level and
// message.
func (e *lineEncoder) begin(now time.Time) {
	if e.json {
		e.buf = append(e.buf, '{')
		if !now.IsZero() {
			e.buf = append(e.buf, `"time":"`...)
			e.buf = e.clock.append(e.buf, now, true)
			e.buf = append(e.buf, `",`...)
		}
		e.buf = append(e.buf, `"level":"INFO","msg":"request"`...)
		return
	}
	if !now.IsZero() {
		e.buf = append(e.buf, "time="...)
		e.buf = e.clock.append(e.buf, now, false)
		e.buf = append(e.buf, ' ')
	}
	e.buf = append(e.buf, "level=INFO msg=request"...)
}

// secondStamp is one second's formatted date, time of day and zone, in the
// layouts slog uses: RFC 3339 to the nanosecond in JSON
// ("2006-01-02T15:04:05.999999999Z07:00"), to the millisecond in text
// ("2006-01-02T15:04:05.000Z07:00"). The two layouts differ only in the
// fraction, which is appended by hand. The zero value is empty.
type secondStamp struct {
	sec        int64
	loc        *time.Location // with sec, decides the zone's offset
	date, zone []byte         // "2006-01-02T15:04:05", "Z07:00"
}

// append appends now in the JSON (nanos) or text layout; a nil s formats in
// full.
func (s *secondStamp) append(dst []byte, now time.Time, nanos bool) []byte {
	if s == nil {
		if nanos {
			return now.AppendFormat(dst, time.RFC3339Nano)
		}
		return now.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	if sec, loc := now.Unix(), now.Location(); s.date == nil || sec != s.sec || loc != s.loc {
		s.date = now.AppendFormat(s.date[:0], "2006-01-02T15:04:05")
		s.zone = now.AppendFormat(s.zone[:0], "Z07:00")
		s.sec, s.loc = sec, loc
	}
	dst = append(dst, s.date...)
	ns := now.Nanosecond()
	if nanos {
		if ns != 0 {
			dst = append(dst, '.')
			dst = appendFraction(dst, ns, 9, true)
		}
	} else {
		dst = append(dst, '.')
		dst = appendFraction(dst, ns/1e6, 3, false)
	}
	return append(dst, s.zone...)
}

// appendFraction appends v as width digits, zero-padded, without its
// trailing zeros when trim.
func appendFraction(dst []byte, v, width int, trim bool) []byte {
	var b [9]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	n := width
	for trim && n > 0 && b[n-1] == '0' {
		n--
	}
	return append(dst, b[:n]...)
}

func (e *lineEncoder) end() {
	if e.json {
		e.buf = append(e.buf, '}')
	}
	e.buf = append(e.buf, '\n')
}

func (e *lineEncoder) key(k string) {
	if e.json {
		e.buf = append(e.buf, ',', '"')
		e.buf = append(e.buf, k...)
		e.buf = append(e.buf, '"', ':')
		return
	}
	e.buf = append(e.buf, ' ')
	e.buf = append(e.buf, k...)
	e.buf = append(e.buf, '=')
}

// raw appends v, which needs no quoting in text and is a string in JSON.
func (e *lineEncoder) raw(v []byte) {
	if e.json {
		e.buf = append(e.buf, '"')
		e.buf = append(e.buf, v...)
		e.buf = append(e.buf, '"')
		return
	}
	e.buf = append(e.buf, v...)
}

func (e *lineEncoder) str(k, v string) {
	e.key(k)
	if e.json {
		e.buf = appendJSONString(e.buf, v)
	} else {
		e.buf = appendTextValue(e.buf, v)
	}
}

// bytes is str for a value held in a []byte, which is not kept.
func (e *lineEncoder) bytes(k string, v []byte) { e.str(k, unsafeString(v)) }

// float writes v as slog does: as json.Marshal would in JSON (plain decimal
// for the magnitudes a duration in milliseconds has), %g in text.
func (e *lineEncoder) float(k string, v float64) {
	e.key(k)
	if e.json && (v == 0 || v >= 1e-6 && v < 1e21) {
		e.buf = strconv.AppendFloat(e.buf, v, 'f', -1, 64)
		return
	}
	e.buf = strconv.AppendFloat(e.buf, v, 'g', -1, 64)
}

// millis writes a duration of us microseconds in milliseconds as float
// would write float64(us)/1000: below 1000 s by hand (the shortest decimal of
// us/1000 is its exact one, and %g writes it as %f below 1e6), else through
// float.
func (e *lineEncoder) millis(k string, us int64) {
	if us < 0 || us >= 1e9 {
		e.float(k, float64(us)/1000)
		return
	}
	e.key(k)
	e.buf = strconv.AppendInt(e.buf, us/1000, 10)
	if frac := int(us % 1000); frac != 0 {
		e.buf = append(e.buf, '.')
		e.buf = appendFraction(e.buf, frac, 3, true)
	}
}

func (e *lineEncoder) int(k string, v int64) {
	e.key(k)
	e.buf = strconv.AppendInt(e.buf, v, 10)
}

// flushingWriter buffers writes and flushes them every interval and on Close.
type flushingWriter struct {
	mu   sync.Mutex // guards the following field
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newFlushingWriter(out io.Writer, every time.Duration) *flushingWriter {
	f := &flushingWriter{w: bufio.NewWriterSize(out, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go f.loop(every)
	return f
}

func (f *flushingWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.w.Write(p)
}

func (f *flushingWriter) loop(every time.Duration) {
	defer close(f.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f.flush()
		case <-f.stop:
			f.flush()
			return
		}
	}
}

func (f *flushingWriter) flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.w.Flush()
}

// Close flushes and stops; it is safe to call once.
func (f *flushingWriter) Close() error {
	close(f.stop)
	<-f.done
	return nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendTextValue appends s as slog's TextHandler writes a value: quoted
// (strconv.Quote) when it is empty or holds a space, '=', '"' or anything
// that is not a printable rune, else as is.
func appendTextValue(dst []byte, s string) []byte {
	if !needsQuoting(s) {
		return append(dst, s...)
	}
	return strconv.AppendQuote(dst, s)
}

func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == ' ' || c == '=' || c == '"' || c < 0x20 {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// unsafeString views b as a string for the duration of a call that does not
// keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
