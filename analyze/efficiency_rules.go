package analyze

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"go.yaml.in/yaml/v3"
)

// Rule names, as dive's CI configuration (.dive-ci) names them.
const (
	RuleLowestEfficiency         = "lowestEfficiency"
	RuleHighestWastedBytes       = "highestWastedBytes"
	RuleHighestUserWastedPercent = "highestUserWastedPercent"
)

// ruleNames are the rules, in the order they are checked and reported
// (dive's: by name).
var ruleNames = []string{RuleHighestUserWastedPercent, RuleHighestWastedBytes, RuleLowestEfficiency}

// ruleDisabled is the value that turns a rule off, as in dive.
const ruleDisabled = "disabled"

// Limit is one rule's threshold; Disabled turns the rule off.
type Limit struct {
	Disabled bool
	Value    float64 // a ratio from 0 to 1, or bytes (highestWastedBytes)
}

// Rules are the thresholds an image's efficiency must meet: dive's CI
// rules, with dive's meaning of each threshold.
type Rules struct {
	// LowestEfficiency fails an image whose Score is below it.
	LowestEfficiency Limit
	// HighestWastedBytes fails an image whose WastedBytes is above it.
	HighestWastedBytes Limit
	// HighestUserWastedPercent fails an image whose UserWastedPercent is
	// above it.
	HighestUserWastedPercent Limit
}

// DefaultRules are dive's defaults: efficiency at least 0.9, user wasted
// percent at most 0.1, wasted bytes not checked.
func DefaultRules() Rules {
	return Rules{
		LowestEfficiency:         Limit{Value: 0.9},
		HighestWastedBytes:       Limit{Disabled: true},
		HighestUserWastedPercent: Limit{Value: 0.1},
	}
}

func (r *Rules) limit(name string) *Limit {
	switch name {
	case RuleLowestEfficiency:
		return &r.LowestEfficiency
	case RuleHighestWastedBytes:
		return &r.HighestWastedBytes
	case RuleHighestUserWastedPercent:
		return &r.HighestUserWastedPercent
	}
	return nil
}

// Set sets the rule name from value as dive reads it: "disabled", a ratio
// from 0 to 1, or for highestWastedBytes a size in bytes ("20MB", "1.5
// GiB", "4096"; units are humanize's, kB = 1000 and KiB = 1024).
func (r *Rules) Set(name, value string) error {
	// dive reads its file through viper, whose keys ignore case.
	for _, n := range ruleNames {
		if strings.EqualFold(n, name) {
			name = n
		}
	}
	l := r.limit(name)
	if l == nil {
		return fmt.Errorf("unknown rule %q: the rules are %s", name, strings.Join(ruleNames, ", "))
	}
	value = strings.TrimSpace(value)
	if value == ruleDisabled {
		*l = Limit{Disabled: true}
		return nil
	}
	if name == RuleHighestWastedBytes {
		n, err := ParseBytes(value)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*l = Limit{Value: float64(n)}
		return nil
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil || math.IsNaN(v) {
		return fmt.Errorf("%s: %q is not a ratio from 0 to 1, nor %q", name, value, ruleDisabled)
	}
	if v < 0 || v > 1 {
		return fmt.Errorf("%s: %s is outside the allowed range 0 to 1 (a ratio: 0.95, not 95)", name, value)
	}
	*l = Limit{Value: v}
	return nil
}

// ReadRules reads dive's CI configuration file (.dive-ci) from r into
// rules: YAML whose "rules" mapping sets some of lowestEfficiency,
// highestWastedBytes and highestUserWastedPercent (values as Set reads
// them). Other top-level keys are ignored, as dive ignores them; an
// unknown rule is an error.
func ReadRules(r io.Reader, rules *Rules) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(r).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return fmt.Errorf("not YAML: %s", oneLine(err.Error()))
	}
	top := &doc
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: not a mapping (such as \"rules:\" and its rules)", top.Line)
	}
	var set *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "rules" {
			set = top.Content[i+1]
		}
	}
	if set == nil || set.Kind == yaml.ScalarNode && set.Tag == "!!null" {
		return nil // dive's other settings; no rules
	}
	if set.Kind != yaml.MappingNode {
		return fmt.Errorf("rules (line %d): not a mapping of rule names to values", set.Line)
	}
	type pair struct{ k, v *yaml.Node }
	var pairs []pair
	for i := 0; i+1 < len(set.Content); i += 2 {
		pairs = append(pairs, pair{set.Content[i], set.Content[i+1]})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].k.Value < pairs[j].k.Value })
	for _, p := range pairs {
		name, v := p.k.Value, p.v
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("rules.%s (line %d): not a single value", oneLine(name), v.Line)
		}
		if err := rules.Set(name, v.Value); err != nil {
			return fmt.Errorf("line %d: %s", v.Line, oneLine(err.Error()))
		}
	}
	return nil
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ParseBytes reads a size as dive reads highestWastedBytes, with the same
// library (go-humanize's ParseBytes): a number, then an optional unit,
// kB = 1000 and KiB = 1024, case-insensitive ("20MB", "1.5 GiB", "4096").
func ParseBytes(s string) (int64, error) {
	n, err := humanize.ParseBytes(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a size in bytes (such as 20MB, 1.5GiB or 4096), nor %q", s, ruleDisabled)
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(n), nil
}

// RuleStatus is the outcome of one rule.
type RuleStatus string

// Rule outcomes, as dive prints them.
const (
	RulePass RuleStatus = "PASS"
	RuleFail RuleStatus = "FAIL"
	RuleSkip RuleStatus = "SKIP" // disabled
)

// RuleResult is one rule checked against an image.
type RuleResult struct {
	Name   string
	Status RuleStatus
	Limit  Limit
	// Actual is the image's figure the rule checks.
	Actual float64
}

// Check checks e against every rule, in dive's order (by name), and says
// whether all of them pass.
func (r Rules) Check(e *EfficiencyReport) ([]RuleResult, bool) {
	var out []RuleResult
	pass := true
	for _, name := range ruleNames {
		l := *r.limit(name)
		res := RuleResult{Name: name, Limit: l, Status: RulePass}
		var failed bool
		switch name {
		case RuleLowestEfficiency:
			res.Actual = e.Score
			failed = e.Score < l.Value
		case RuleHighestWastedBytes:
			res.Actual = float64(e.WastedBytes)
			failed = float64(e.WastedBytes) > l.Value
		case RuleHighestUserWastedPercent:
			res.Actual = e.UserWastedPercent
			failed = e.UserWastedPercent > l.Value
		}
		switch {
		case l.Disabled:
			res.Status = RuleSkip
		case failed:
			res.Status = RuleFail
			pass = false
		}
		out = append(out, res)
	}
	return out, pass
}
