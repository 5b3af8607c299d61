package analyze

import (
	"math"
	"strings"
	"testing"
)

// FuzzReadRules: whatever a .dive-ci file holds, ReadRules returns one
// line of error or rules in range, and never panics. The seeds are small
// so that the fuzzer mutates YAML, not bulk.
func FuzzReadRules(f *testing.F) {
	for _, seed := range []string{
		"rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n  highestUserWastedPercent: 0.20\n",
		"rules:\n  lowestEfficiency: disabled\n",
		"rules:\n  HighestWastedBytes: 1.5 GiB\n",
		"rules: {lowestEfficiency: [1]}\n",
		"rules:\n  x: 1\n",
		"plugins: []\n",
		"",
		"\t: :",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := DefaultRules()
		err := ReadRules(strings.NewReader(in), &r)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a two-line error: %q", err)
			}
			return
		}
		for _, l := range []Limit{r.LowestEfficiency, r.HighestUserWastedPercent} {
			if !l.Disabled && (l.Value < 0 || l.Value > 1 || math.IsNaN(l.Value)) {
				t.Fatalf("a ratio out of range: %+v from %q", l, in)
			}
		}
		if l := r.HighestWastedBytes; !l.Disabled && (l.Value < 0 || l.Value > math.MaxInt64) {
			t.Fatalf("a size out of range: %+v from %q", l, in)
		}
	})
}
