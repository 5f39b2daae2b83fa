package rpc

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricValue reads one counter or gauge (test helper).
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if out.GetCounter() != nil {
		return out.GetCounter().GetValue()
	}
	return out.GetGauge().GetValue()
}

// gathered returns the metric families reg gathers, by name.
func gathered(t testing.TB, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily)
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestMetricsCountCallsByMethodAndCode(t *testing.T) {
	f := newFakeBackend(t)
	f.commit(t, signTx(t, f.keys[0], 0, "a=1"))
	m := NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	s := startServer(t, Config{Metrics: m}, f)

	result(t, httpURL(s), "chain_blockNumber", `[]`)
	result(t, httpURL(s), "chain_blockNumber", `[]`)
	if r := call(t, httpURL(s), "chain_getBlockByNumber", `["0xzz"]`); r.Error == nil || r.Error.Code != CodeInvalidParams {
		t.Fatalf("bad height answered %+v, want code %d", r, CodeInvalidParams)
	}
	result(t, httpURL(s), "chain_getBlockByNumber", `[1, false]`)
	if r := call(t, httpURL(s), "chain_nope", `[]`); r.Error == nil {
		t.Fatal("unknown method succeeded")
	}
	ws := dialWS(t, wsURL(s), nil)
	ws.subscribe(`["newBlocks"]`)
	waitFor(t, "the subscription", func() bool { return metricValue(t, m.subscribers) == 1 })

	for _, c := range []struct {
		method, code string
		want         float64
	}{
		{"chain_blockNumber", "0", 2},
		{"chain_getBlockByNumber", "-32602", 1},
		{"chain_getBlockByNumber", "0", 1},
		{"chain_subscribe/newBlocks", "0", 1},
	} {
		if got := metricValue(t, m.requests.WithLabelValues(c.method, c.code)); got != c.want {
			t.Errorf("requests_total{method=%q,code=%q} = %v, want %v", c.method, c.code, got, c.want)
		}
	}
	if got := metricValue(t, m.wsConns); got != 1 {
		t.Errorf("ws_connections = %v, want 1", got)
	}
	// Only served methods appear as labels: the unknown one is not counted.
	fams := gathered(t, reg)
	if n := len(fams["bafomet_rpc_requests_total"].GetMetric()); n != 4 {
		t.Errorf("%d request series, want 4 (unknown methods must not add labels)", n)
	}
	var calls uint64
	for _, m := range fams["bafomet_rpc_request_duration_seconds"].GetMetric() {
		calls += m.GetHistogram().GetSampleCount()
	}
	if calls != 5 {
		t.Errorf("duration histograms hold %d calls, want 5", calls)
	}
}
