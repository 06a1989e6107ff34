package supervision

import (
	"errors"
	"io"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		reason any
		want   actor.Directive
	}{
		{"Fatal value stops", Fatal{Err: io.ErrUnexpectedEOF}, actor.StopDirective},
		{"*Fatal stops", &Fatal{Err: io.ErrUnexpectedEOF}, actor.StopDirective},
		{"Fatal without a cause stops", Fatal{}, actor.StopDirective},
		{"string panic restarts", "boom", actor.RestartDirective},
		{"error panic restarts", errors.New("invariant broken"), actor.RestartDirective},
		{"runtime error restarts", runtimeError(), actor.RestartDirective},
		{"nil restarts", nil, actor.RestartDirective},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.reason); got != tt.want {
				t.Errorf("Decide(%#v) = %v, want %v", tt.reason, got, tt.want)
			}
		})
	}
}

// runtimeError returns the value a nil-map write panics with.
func runtimeError() (r any) {
	defer func() { r = recover() }()
	var m map[string]int
	m["x"] = 1
	return nil
}

func TestFatalError(t *testing.T) {
	f := Fatal{Err: io.ErrUnexpectedEOF}
	if got, want := f.Error(), "supervision: fatal: unexpected EOF"; got != want {
		t.Errorf("Fatal.Error() = %q, want %q", got, want)
	}
	if !errors.Is(f, io.ErrUnexpectedEOF) {
		t.Errorf("errors.Is(Fatal{Err: io.ErrUnexpectedEOF}, io.ErrUnexpectedEOF) = false, want true")
	}
}
