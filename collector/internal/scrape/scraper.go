package scrape

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Scraper fetches /metrics pages over HTTP.
type Scraper struct {
	client *http.Client
}

// NewScraper returns a Scraper using client, or a client of its own with
// no overall timeout (each Scrape is bounded by its context) when nil.
func NewScraper(client *http.Client) *Scraper {
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     time.Minute,
		}}
	}
	return &Scraper{client: client}
}

// Scrape fetches http://<addr>/metrics and parses it. A non-200 answer, a
// page larger than MaxPageBytes or a parse error is an error.
func (s *Scraper) Scrape(ctx context.Context, addr string) (Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: GET /metrics: %s", addr, resp.Status)
	}
	page, err := ReadPage(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	return page, nil
}

// CloseIdle closes the scraper's idle connections.
func (s *Scraper) CloseIdle() { s.client.CloseIdleConnections() }
