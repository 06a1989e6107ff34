package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"yatagarasu/resources"
)

// MonitorSettings configure the resource monitor, a child of the root.
type MonitorSettings struct {
	// Pressure receives each sample's level; the request path reads it.
	Pressure *resources.Pressure
	// Sampler reads file descriptors and memory.
	Sampler *resources.Sampler
	// Every is the sampling interval.
	Every time.Duration
}

// sample asks the monitor to take a sample.
type sample struct{}

// monitor samples the process's resources on a timer and publishes the
// pressure level; a change of level is logged once. State is owned by the
// actor.
type monitor struct {
	set   MonitorSettings
	log   *slog.Logger
	timer *timer
}

func newMonitor(set MonitorSettings, log *slog.Logger) actor.Producer {
	return func() actor.Actor { return &monitor{set: set, log: log.With("component", "resources")} }
}

// Receive implements actor.Actor.
func (m *monitor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		m.take()
		m.timer = sendEvery(ctx.ActorSystem(), m.set.Every, ctx.Self(), sample{})
	case sample:
		m.take()
	case *actor.Stopping, *actor.Restarting:
		m.timer.Stop()
	}
}

func (m *monitor) take() {
	s, err := m.set.Sampler.Read()
	if err != nil {
		m.log.Error("sampling resources failed", "err", err)
		return
	}
	prev := m.set.Pressure.Set(s)
	if level := s.Level(); level != prev {
		attrs := []any{"from", prev.String(), "to", level.String(), "fds", s.FDs, "fd_limit", s.FDLimit, "memory", s.Memory, "memory_limit", s.MemLimit}
		switch {
		case level > prev:
			m.log.Warn("resource pressure rising", attrs...)
		default:
			m.log.Info("resource pressure easing", attrs...)
		}
	}
}
