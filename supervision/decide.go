package supervision

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
)

// Fatal marks a failure that restarting cannot fix (for example a child whose
// configuration is unusable): the child is stopped, not restarted. An actor
// signals it with panic(supervision.Fatal{Err: err}).
type Fatal struct{ Err error }

func (f Fatal) Error() string { return fmt.Sprintf("supervision: fatal: %v", f.Err) }

// Unwrap returns the cause.
func (f Fatal) Unwrap() error { return f.Err }

// Decide maps a failure reason (the value an actor panicked with) to a
// directive: Fatal stops the child, everything else restarts it.
func Decide(reason any) actor.Directive {
	switch reason.(type) {
	case Fatal, *Fatal:
		return actor.StopDirective
	}
	return actor.RestartDirective
}
