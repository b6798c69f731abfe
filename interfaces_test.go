package crdt_test

import (
	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/register"
)

// Compile-time checks that every data type is what the replication engine
// needs. They live here because the data-type packages do not import the
// engine.
var (
	_ crdt.DeltaObject          = (*counter.G)(nil)
	_ crdt.DeltaObject          = (*counter.PN)(nil)
	_ crdt.Object               = (*counter.Bounded)(nil)
	_ crdt.OriginChecker        = (*counter.Bounded)(nil)
	_ crdt.WriterSetter         = (*counter.Bounded)(nil)
	_ crdt.Limited              = (*counter.Bounded)(nil)
	_ crdt.Fingerprinter        = (*counter.Bounded)(nil)
	_ crdt.EquivocationReporter = (*counter.Bounded)(nil)
	_ crdt.Collector            = (*orset.Set[string])(nil)
	_ crdt.Collector            = (*lwwmap.Map[string, string])(nil)
	_ crdt.Object               = (*register.LWW[string])(nil)
	_ crdt.DeltaObject          = (*register.MV[string])(nil)

	_ crdt.ConflictReporter = (*register.LWW[string])(nil)
	_ crdt.ConflictReporter = (*register.MV[string])(nil)
	_ crdt.ConflictReporter = (*lwwmap.Map[string, string])(nil)
	_ crdt.Collector        = (*ormap.Map[string, *ormap.Counter])(nil)
	_ crdt.ClockCollector   = (*ormap.Map[string, *ormap.Counter])(nil)
	_ crdt.RunCollector     = (*ormap.Map[string, *ormap.Counter])(nil)
	_ crdt.SplitCounter     = (*counter.PN)(nil)
	_ crdt.OriginChecker    = (*ormap.Map[string, *ormap.Map[string, *ormap.Set[int]]])(nil)
	_ crdt.WriterSetter     = (*ormap.Map[string, *ormap.Register[string]])(nil)
	_ crdt.Limited          = (*ormap.Map[string, *ormap.Counter])(nil)
	_ crdt.Fingerprinter    = (*ormap.Map[string, *ormap.Counter])(nil)
	_ crdt.Chunker          = (*counter.G)(nil)
	_ crdt.Chunker          = (*counter.PN)(nil)
	_ crdt.Chunker          = (*orset.Set[string])(nil)
	_ crdt.Chunker          = (*lwwmap.Map[string, string])(nil)

	_ crdt.GarbageReporter = (*orset.Set[string])(nil)
	_ crdt.GarbageReporter = (*ormap.Map[string, *ormap.Counter])(nil)
	_ crdt.GarbageReporter = (*lwwmap.Map[string, string])(nil)

	_ crdt.GapReporter = (*orset.Set[string])(nil)
	_ crdt.GapReporter = (*ormap.Map[string, *ormap.Counter])(nil)
	_ crdt.GapReporter = (*lwwmap.Map[string, string])(nil)
	_ crdt.GapReporter = (*register.MV[string])(nil)

	_ crdt.GapHasher = (*orset.Set[string])(nil)
	_ crdt.GapHasher = (*ormap.Map[string, *ormap.Counter])(nil)
	_ crdt.GapHasher = (*lwwmap.Map[string, string])(nil)
	_ crdt.GapHasher = (*register.MV[string])(nil)
)
