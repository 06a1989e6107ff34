package buckets

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's HostClient starts a conns cleaner per client that exits
		// on its own once its pool has stayed empty for a while.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		// The test origins' fasthttp servers share a process-wide Date-header
		// ticker that never stops, and each stops its worker-pool cleaner
		// asynchronously after Shutdown.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}
