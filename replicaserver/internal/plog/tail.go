package plog

import "github.com/pegasus-go/pegasus/shared/protocol"

// NewTailReader returns a Reader over every live mutation with decree >=
// from, committed or not (NewReader waits for the log's own evidence of
// commitment, which for the last mutation arrives only with a later
// record). The caller bounds what it uses by a commit point it knows
// otherwise (the replica's core), and must start over when that commit
// point's ballot changes: an uncommitted mutation may be replaced under a
// higher ballot. Otherwise as NewReader.
func (l *Log) NewTailReader(from protocol.Decree) (*Reader, error) {
	return l.newReader(from, false)
}
