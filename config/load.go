package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes, defaults and validates the file at path. Errors in the
// file are *Error values (joined when there are several) that name the file,
// the key, its line and the reason; they all match ErrInvalid.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse is Load for data already read; file names it in errors.
func Parse(data []byte, file string) (*Config, error) {
	c := &Config{File: file}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: file, Key: pe.LastKey, Line: pe.Position.Line, Reason: pe.Message}
		}
		return nil, decodeError(file, err)
	}
	p := &problems{file: file, lines: indexKeys(data)}
	reportUnknown(md, p)
	expandEnv(reflect.ValueOf(c).Elem(), "", p)
	c.applyDefaults(md)
	c.validate(p)
	c.resolveAuth(p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// decoderMessage matches the decoder's type errors, which are not ParseErrors:
// `toml: line 2 (last key "server.port"): incompatible types: ...`.
var decoderMessage = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)

// decodeError turns a non-ParseError from the decoder into an *Error.
func decodeError(file string, err error) *Error {
	m := decoderMessage.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: file, Reason: strings.TrimPrefix(err.Error(), "toml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	return &Error{File: file, Key: m[2], Line: line, Reason: m[3]}
}

// reportUnknown turns every key the decoder did not use into an error that
// lists the keys its table accepts.
func reportUnknown(md toml.MetaData, p *problems) {
	seen := map[string]bool{}
	for _, k := range md.Undecoded() {
		plain := k.String()
		if seen[plain] {
			continue
		}
		seen[plain] = true
		reason := "unknown key"
		if known := knownKeys(k[:len(k)-1]); len(known) > 0 {
			reason += "; this table accepts: " + strings.Join(known, ", ")
		}
		paths := p.lines.matching(plain)
		if len(paths) == 0 {
			paths = []string{plain}
		}
		for _, path := range paths {
			p.add(path, "%s", reason)
		}
	}
}

// knownKeys lists the TOML keys of the table at path, by reflection on Config.
func knownKeys(path toml.Key) []string {
	t := reflect.TypeOf(Config{})
	for i := 0; i < len(path); i++ {
		t = tableType(t)
		if t.Kind() == reflect.Map {
			t = t.Elem() // path[i] is the map key, e.g. the name in [auth.<name>]
			continue
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		f, ok := fieldByTOMLName(t, path[i])
		if !ok {
			return nil
		}
		t = f.Type
	}
	t = tableType(t)
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(Duration{}) {
		return nil
	}
	var names []string
	visitFields(t, func(f reflect.StructField, name string) { names = append(names, name) })
	sort.Strings(names)
	return names
}

// tableType looks through pointers and slices to the table's own type.
func tableType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t
}

// visitFields calls fn for each field of struct type t that has a TOML key,
// looking into embedded structs as TOML does.
func visitFields(t reflect.Type, fn func(f reflect.StructField, name string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("toml") == "" {
			visitFields(f.Type, fn)
			continue
		}
		if n := tomlName(f); n != "" {
			fn(f, n)
		}
	}
}

func fieldByTOMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	var found reflect.StructField
	ok := false
	visitFields(t, func(f reflect.StructField, n string) {
		if n == name && !ok {
			found, ok = f, true
		}
	})
	return found, ok
}

// applyDefaults fills every absent key with its documented default.
func (c *Config) applyDefaults(md toml.MetaData) {
	if c.Admin.Address == "" {
		c.Admin.Address = DefaultAddress
	}
	if c.Server.Address == "" {
		c.Server.Address = DefaultAddress
	}
	if !md.IsDefined("server", "port") {
		c.Server.Port = DefaultPort
	}
	c.Server.RequestTimeout = c.Server.RequestTimeout.orDefault(DefaultRequestTimeout)
	c.Server.StreamIdleTimeout = c.Server.StreamIdleTimeout.orDefault(DefaultStreamIdleTimeout)
	c.Server.TimerSlack = c.Server.TimerSlack.orDefault(DefaultTimerSlack)
	if c.Server.MaxConcurrentRequests == 0 {
		c.Server.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	l := &c.Server.Limits
	if l.MaxRequestSize == 0 {
		l.MaxRequestSize = DefaultMaxRequestSize
	}
	if l.MaxHeaderSize == 0 {
		l.MaxHeaderSize = DefaultMaxHeaderSize
	}
	if l.MaxURILength == 0 {
		l.MaxURILength = DefaultMaxURILength
	}
	if g := c.Server.RateLimit.Global; g != nil {
		g.applyDefaults()
	}
	if p := c.Server.RateLimit.PerIP; p != nil {
		p.applyDefaults()
		if p.MaxTrackedIPs == 0 {
			p.MaxTrackedIPs = DefaultMaxTrackedIPs
		}
	}
	c.Server.Resources.SampleInterval = c.Server.Resources.SampleInterval.orDefault(DefaultSampleInterval)
	c.Server.DrainDelay = c.Server.DrainDelay.orDefault(DefaultDrainDelay)
	c.Server.ShutdownTimeout = c.Server.ShutdownTimeout.orDefault(DefaultShutdownTimeout)
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if !md.IsDefined("supervision", "max_restarts") {
		c.Supervision.MaxRestarts = DefaultMaxRestarts
	}
	c.Supervision.Within = c.Supervision.Within.orDefault(DefaultRestartWindow)
	if c.DemoStore != nil && c.DemoStore.Bucket == "" {
		c.DemoStore.Bucket = DefaultDemoBucket
	}
	for i := range c.Buckets {
		if b := &c.Buckets[i]; b.IsPassThrough() && b.MaxDynamicBuckets == 0 {
			b.MaxDynamicBuckets = DefaultMaxDynamicBuckets
		}
		s := &c.Buckets[i].S3
		if s.Region == "" {
			s.Region = DefaultRegion
		}
		if s.ConnectionPoolSize == 0 {
			s.ConnectionPoolSize = DefaultConnectionPoolSize
		}
		if s.MaxIdleConnections == nil {
			n := min(DefaultMaxIdleConnections, s.ConnectionPoolSize)
			s.MaxIdleConnections = &n
		}
		s.IdleTimeout = s.IdleTimeout.orDefault(DefaultIdleTimeout)
		s.ConnectionWaitTimeout = s.ConnectionWaitTimeout.orDefault(DefaultConnectionWaitTimeout)
		s.Timeout = s.Timeout.orDefault(DefaultTimeout)
		s.ConnectTimeout = s.ConnectTimeout.orDefault(min(DefaultConnectTimeout, s.Timeout.Duration))
		if s.RateLimit != nil {
			s.RateLimit.applyDefaults()
		}
		r := &s.Retry
		if r.MaxAttempts == 0 {
			r.MaxAttempts = DefaultMaxAttempts
		}
		r.InitialBackoff = r.InitialBackoff.orDefault(DefaultInitialBackoff)
		r.MaxBackoff = r.MaxBackoff.orDefault(max(DefaultMaxBackoff, r.InitialBackoff.Duration))
		if r.BudgetPercent == 0 {
			r.BudgetPercent = DefaultBudgetPercent
		}
		if r.MinRetriesPerSecond == nil {
			n := DefaultMinRetriesPerSecond
			r.MinRetriesPerSecond = &n
		}
		cb := &s.CircuitBreaker
		if cb.FailureThreshold == 0 {
			cb.FailureThreshold = DefaultFailureThreshold
		}
		if cb.SuccessThreshold == 0 {
			cb.SuccessThreshold = DefaultSuccessThreshold
		}
		cb.Timeout = cb.Timeout.orDefault(DefaultBreakerTimeout)
		if cb.HalfOpenMaxRequests == 0 {
			cb.HalfOpenMaxRequests = max(DefaultHalfOpenMaxRequests, cb.SuccessThreshold)
		}
		cb.Window = cb.Window.orDefault(DefaultBreakerWindow)
		if cb.MinimumRequests == 0 {
			cb.MinimumRequests = DefaultMinimumRequests
		}
	}
}

func (r *RateLimitRule) applyDefaults() {
	if r.Burst == 0 {
		r.Burst = max(int(r.RequestsPerSecond), 1)
	}
}
