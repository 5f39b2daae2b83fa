package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// profileSlack is how much longer than the profiled interval the profile
// request may take.
const profileSlack = 15 * time.Second

// fetchProfile asks a node's pprof endpoint (metricsURL, e.g.
// http://127.0.0.1:26602) for a CPU profile of d and writes it to path.
func fetchProfile(ctx context.Context, metricsURL string, d time.Duration, path string) error {
	secs := max(1, int(d.Round(time.Second).Seconds()))
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", metricsURL, secs)
	ctx, cancel := context.WithTimeout(ctx, d+profileSlack)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("profile request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("get %s: %s: %s", url, resp.Status, msg)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create profile file: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
