// Package hotspot flags partitions whose request rate stands far above
// the other partitions of their table.
//
// A Detector keeps, per table, the per-partition QPS of the last Window
// rounds. After each round it averages every partition's QPS over the
// window and scores partition p against the others of its table
// (leave-one-out, so one hot partition does not hide itself by raising
// the mean and the spread):
//
//	mean, sd = mean and population standard deviation of the other partitions' averages
//	z(p)     = (avg(p) - mean) / max(sd, 0.1*mean, 1 qps)
//	hot(p)   = z(p) >= Threshold and avg(p) >= MinQPS
//
// The floor on the spread keeps evenly loaded or idle tables from scoring
// huge z values on noise. A table with a single partition has no others
// and is never hot.
//
// Invariants: scores depend only on the QPS values fed in, never on time;
// a table absent from a round loses its window; a table whose partition
// count changed starts a new window.
//
// Concurrency: a Detector is used by one goroutine at a time.
package hotspot
