package pegasus

import (
	"time"

	"github.com/uber-go/tally/v4"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// clientMetrics reports to a tally scope (see WithMetrics).
type clientMetrics struct {
	scope tally.Scope
}

func newClientMetrics(s tally.Scope) *clientMetrics {
	return &clientMetrics{scope: s.SubScope("client")}
}

// observe records one finished operation.
func (m *clientMetrics) observe(table, op string, start time.Time, err error) {
	s := m.scope.Tagged(map[string]string{"table": table, "op": op})
	s.Counter("requests").Inc(1)
	s.Timer("latency").Record(time.Since(start))
	if err != nil {
		code := protocol.CodeOf(err)
		s.Tagged(map[string]string{"code": code.String()}).Counter("errors").Inc(1)
	}
}

func (m *clientMetrics) retry(table, op string) {
	m.scope.Tagged(map[string]string{"table": table, "op": op}).Counter("retries").Inc(1)
}

func (m *clientMetrics) refresh(table string) {
	m.scope.Tagged(map[string]string{"table": table}).Counter("config_refreshes").Inc(1)
}
