// Package scrape fetches a daemon's /metrics page and parses the Prometheus
// text exposition format into a Page: metric families by name, each sample
// with its labels, value and, for histograms, cumulative buckets.
//
// Invariants:
//   - Parse never panics on bad input; it returns an error naming the
//     problem, and refuses pages larger than MaxPageBytes before parsing.
//   - A Page is immutable once returned; its maps and slices are owned by
//     the caller.
//   - Histogram buckets are sorted by upper bound and cumulative, as in the
//     exposition format; the +Inf bucket is always present (added from the
//     sample count when the page leaves it out).
//
// Concurrency: Parse is a pure function. A Scraper is safe for concurrent
// use; each Scrape call is independent and honours its context.
package scrape
