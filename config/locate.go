package config

import (
	"strconv"
	"strings"
)

// keyLines maps key paths ("server.port", "buckets[1].s3.endpoint") to the
// 1-based line where the key or its table header stands. BurntSushi/toml keeps
// positions private, so errors found after decoding (validation, unknown keys)
// get their line from this index. It reads the subset of TOML that
// configuration files use: [table] and [[array]] headers, key = value lines,
// dotted and quoted keys; lines inside multi-line strings and arrays are skipped.
type keyLines struct {
	line  map[string]int
	order []string // paths in file order, for lookups without array indexes
}

// indexKeys scans data once.
func indexKeys(data []byte) keyLines {
	kl := keyLines{line: make(map[string]int)}
	arrays := map[string]int{} // array path without index → elements seen
	current := ""
	depth := 0    // open brackets of a multi-line value
	inMulti := "" // open multi-line string delimiter
	record := func(path string, n int) {
		if _, ok := kl.line[path]; !ok {
			kl.line[path] = n
			kl.order = append(kl.order, path)
		}
	}
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		if inMulti != "" {
			if strings.Count(line, inMulti)%2 == 1 {
				inMulti = ""
			}
			continue
		}
		if depth > 0 {
			depth += bracketBalance(line)
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		switch {
		case strings.HasPrefix(line, "[["):
			end := strings.Index(line, "]]")
			if end < 0 {
				continue
			}
			name := splitKey(line[2:end])
			parent := resolve(name[:len(name)-1], arrays)
			base := join(parent, name[len(name)-1])
			idx := arrays[stripIndexes(base)]
			arrays[stripIndexes(base)] = idx + 1
			current = base + "[" + strconv.Itoa(idx) + "]"
			record(current, n)
		case line[0] == '[':
			end := strings.IndexByte(line, ']')
			if end < 0 {
				continue
			}
			current = resolve(splitKey(line[1:end]), arrays)
			record(current, n)
		default:
			eq := strings.IndexByte(line, '=')
			if eq < 0 {
				continue
			}
			key := splitKey(line[:eq])
			path := current
			for _, k := range key {
				path = join(path, k)
			}
			record(path, n)
			value := strings.TrimSpace(line[eq+1:])
			for _, d := range []string{`"""`, `'''`} {
				if strings.HasPrefix(value, d) && strings.Count(value, d)%2 == 1 {
					inMulti = d
				}
			}
			depth = bracketBalance(value)
		}
	}
	return kl
}

// lineOf returns the line of path, or of its nearest enclosing table when the
// key itself is absent, or 0.
func (kl keyLines) lineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if n, ok := kl.line[p]; ok {
			return n
		}
	}
	return 0
}

// matching returns the indexed paths whose index-free form equals plain, in file
// order: "buckets.s3.bogus" → ["buckets[0].s3.bogus", "buckets[2].s3.bogus"].
func (kl keyLines) matching(plain string) []string {
	var out []string
	for _, p := range kl.order {
		if stripIndexes(p) == plain {
			out = append(out, p)
		}
	}
	return out
}

// resolve turns header segments into a path, indexing each segment that names
// an array of tables with its latest element.
func resolve(segments []string, arrays map[string]int) string {
	path := ""
	for _, s := range segments {
		path = join(path, s)
		if n, ok := arrays[stripIndexes(path)]; ok && n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

// splitKey splits a dotted TOML key, unquoting quoted parts.
func splitKey(s string) []string {
	var parts []string
	for _, p := range strings.Split(s, ".") {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' || p[0] == '\'') && p[len(p)-1] == p[0] {
			p = p[1 : len(p)-1]
		}
		parts = append(parts, p)
	}
	return parts
}

// bracketBalance counts '[' minus ']' outside strings and comments.
func bracketBalance(s string) int {
	balance := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return balance
		case c == '[':
			balance++
		case c == ']':
			balance--
		}
	}
	return balance
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// parentPath drops the last segment (or the trailing index) of a path.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// stripIndexes removes every "[n]" from a path.
func stripIndexes(p string) string {
	if !strings.Contains(p, "[") {
		return p
	}
	var b strings.Builder
	skip := false
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '[':
			skip = true
		case p[i] == ']':
			skip = false
		case !skip:
			b.WriteByte(p[i])
		}
	}
	return b.String()
}
