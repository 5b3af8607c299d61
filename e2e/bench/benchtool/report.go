package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A sample is one timed run, as run.sh records it in samples.tsv.
type sample struct {
	kind, group, variant string
	round                int // 0 is the warm-up round
	seconds              float64
	rssKiB               int64 // peak RSS, /usr/bin/time -v "Maximum resident set size"
	inBlocks, outBlocks  int64 // "File system inputs/outputs", 512-byte blocks
	bytes                int64 // size of the output file, -1 when there is none
	rc                   int
	load1                string  // 1-minute load average just before the run
	cpu                  float64 // user + system seconds of the run's processes, /usr/bin/time -v; -1 unknown
	daemonCPU            float64 // user + system seconds of dockerd and its containerd during the run; -1 unknown
}

// variantInfo names a variant in the report.
type variantInfo struct {
	group, key, label string
	// sizeKey names the meta entry whose byte count, divided by the time,
	// gives the variant's throughput; "" for none.
	sizeKey string
}

var variants = []variantInfo{
	{"stream", "a", "(a) `docker save` > /dev/null (the floor)", "save_bytes"},
	{"stream", "b", "(b) extract -o /dev/null", "save_bytes"},
	{"stream", "bfile", "(b) extract -o FILE.tar", "save_bytes"},
	{"stream", "asave", "(a') `docker save -o FILE` (the floor for a stored stream)", "save_bytes"},
	{"stream", "asavecp", "(a'') `docker save -o FILE`, then the output less the top layer copied from it (the floor for a stored stream and a file written)", "save_bytes"},
	{"stream", "c", "(c) `docker export` (create not timed)", ""},
	{"stream", "d", "(d) `docker save` \\| `crane export - -`", "save_bytes"},
	{"big", "b", "(b) extract -o /dev/null, 1x image", "save_bytes"},
	{"big", "b2x", "(h) extract -o /dev/null, 2x image", ""},
	{"top", "e", "(e) extract -l -1 -o /dev/null", ""},
	{"top", "headc", "(e) `docker save` \\| `head -c OFFSET` (floor)", "top_offset"},
	{"gzip", "f", "(f) extract -o FILE.tar.gz", "save_bytes"},
	{"gzip", "savegz", "(f) `docker save` \\| `gzip -6` > FILE", "save_bytes"},
	{"inspect", "inspect", "(g) `docker-layers inspect`", ""},
	{"inspect", "history", "(g) `docker history`", ""},
	{"input", "input", "(i) extract --input saved.tar -o - (page-cached)", "save_bytes"},
	{"input", "crane", "(i) `crane export - -` < saved.tar", "save_bytes"},
	{"input", "inflate", "(i) `igzip -dc` of the archive's gzip layer blobs, one per core (inflation alone, ISA-L)", ""},
	{"compare", "k", "(k) `compare 1x 1x-plus --summary`", ""},
	{"compare", "ktop", "(k) extract 1x-plus -l -1 -o /dev/null", ""},
	{"compare", "ksave", "(k) `docker save` 1x-plus > /dev/null (the stream compare reads whole)", ""},
	{"efficiency", "neff", "(n) `efficiency --input saved.tar` (page-cached)", "save_bytes"},
	{"efficiency", "ndive", "(n) `dive --ci --source docker-archive saved.tar` (rules disabled)", "save_bytes"},
	{"efficiency", "nreport", "(n) `report --input saved.tar -o -` > /dev/null", "save_bytes"},
	{"scale", "lls", "(l) `ls --input manyfiles.tar -R --format json` > /dev/null", ""},
	{"scale", "ldu", "(l) `du --input manyfiles.tar` > /dev/null", ""},
	{"scale", "lx", "(l) `extract --input manyfiles.tar -o /dev/null`", ""},
	{"registry", "rx", "(r) extract docker://REG/… -o /dev/null", "fetched_rx"},
	{"registry", "rcrane", "(r) `crane export REG/… -` > /dev/null", "fetched_rcrane"},
	{"registry", "rtop", "(r) extract docker://REG/… -l -1 -o /dev/null", "fetched_rtop"},
}

var groupTitles = map[string]string{
	"stream":     "Whole image: (a) floor, (b) extract, (c) docker export, (d) crane",
	"big":        "(h) Memory: the image and one twice as large, in rounds of their own",
	"top":        "(e) Top layer only",
	"gzip":       "(f) gzip output",
	"inspect":    "(g) Metadata only",
	"input":      "(i) From a saved archive, no daemon",
	"compare":    "(k) Compare two images that share all but one small layer",
	"scale":      "(l) An image of a million files, from a saved archive: ls, du and extract",
	"efficiency": "(n) Efficiency figures against dive's CI mode, and the HTML report, from a saved archive",
	"registry":   "(r) From a registry on 127.0.0.1 (Debian's docker-registry), no daemon: extract against crane export",
}

var groupOrder = []string{"stream", "big", "top", "gzip", "inspect", "input", "compare", "scale", "efficiency", "registry"}

// A ratio is computed per round (pair) as num/den of the chosen metric and
// judged on its median.
type ratio struct {
	id, group, num, den string
	metric              metric // of the numerator; the denominator's is its time unless metric is byRSS
	op                  string
	target              float64
	what                string
	note                string // info rows: what the figure bounds
	// reach lists the info rows that can show a target out of reach on
	// this machine, whatever the code: when one of them is past its limit,
	// the verdict says so next to NOT MET.
	reach []reach
}

// reach: target ratio q is out of reach when the median of info ratio id,
// of the same daemon, is above limit (a floor) or, with below, under it (a
// ceiling).
type reach struct {
	id    string
	limit float64
	below bool
	why   string // what the row shows
}

// metric is what a ratio compares.
type metric int

const (
	byTime metric = iota
	byRSS
	// byCPUFloor: the CPU time of the run and of the daemon during it,
	// spread over every core: the least wall time any scheduling of that
	// work could take. Divided by the denominator's wall time.
	byCPUFloor
	// byWritten: the bytes the two runs wrote to files (spooling shows
	// here).
	byWritten
	// byRSSMiB: the numerator's peak RSS in MiB, against an absolute
	// target; there is no denominator.
	byRSSMiB
)

var ratios = []ratio{
	{"b/a", "stream", "b", "a", byTime, "<=", 1.10, "(b) extract -o /dev/null ÷ (a) docker save", "", []reach{storeFloor, {"bcpu/a", 1.10, false, "(b)'s CPU floor"}}},
	{"bfile/a", "stream", "bfile", "a", byTime, "<=", 1.10, "(b) extract -o FILE.tar ÷ (a) docker save", "", []reach{storeFloor, {"bfilecpu/a", 1.10, false, "(b) -o FILE.tar's CPU floor"}, {"asavecp/a", 1.10, false, "storing the stream and then writing the output less the top layer, (a'') ÷ (a)"}}},
	{"bfile/asave", "stream", "bfile", "asave", byTime, "info", 0, "(b) extract -o FILE.tar ÷ (a') docker save -o FILE", "how far above storing the stream", nil},
	{"b/asave", "stream", "b", "asave", byTime, "info", 0, "(b) extract -o /dev/null ÷ (a') docker save -o FILE", "how far above storing the stream", nil},
	{"asavecp/a", "stream", "asavecp", "a", byTime, "info", 0, "(a'') docker save -o FILE, then the output less the top layer copied from it, ÷ (a) docker save", "the floor of (b) -o FILE.tar ÷ (a) for a tool that stores the stream: the top layer's blob comes last and may delete or replace any entry below it, so all but its own entries are written after the stream ends", nil},
	{"asave/a", "stream", "asave", "a", byTime, "info", 0, "(a') docker save -o FILE ÷ (a) docker save", "the floor of (b) ÷ (a) for a tool that stores the stream, as every flattener must", nil},
	{"d/asave", "stream", "d", "asave", byTime, "info", 0, "(d) save \\| crane ÷ (a') docker save -o FILE", "the most (d) ÷ (b) can be for a tool that stores the stream", nil},
	{"bcpu/a", "stream", "b", "a", byCPUFloor, "info", 0, "(b)'s CPU floor ÷ (a) docker save: (CPU s of extract + of the daemon during it) ÷ cores, ÷ (a)'s time", "no scheduling of (b)'s work on this machine's cores can bring (b) ÷ (a) below it", nil},
	{"bfilecpu/a", "stream", "bfile", "a", byCPUFloor, "info", 0, "(b) -o FILE.tar's CPU floor ÷ (a) docker save", "the same, for (b) ÷ (a) with a file to write", nil},
	{"a/c", "stream", "a", "c", byTime, "info", 0, "(a) docker save ÷ (c) docker export", "above 1.00, no reader of docker save's stream can beat (c)", nil},
	{"d/b", "stream", "d", "b", byTime, ">=", 1.30, "(d) save \\| crane ÷ (b) extract: (b) ≥ 1.3× faster", "", []reach{{"d/asave", 1.30, true, "crane ÷ storing the stream"}}},
	{"c/b", "stream", "c", "b", byTime, ">", 1.00, "(c) docker export ÷ (b) extract: (b) faster", "", []reach{{"a/c", 1.00, false, "docker save ÷ docker export"}}},
	{"e/headc", "top", "e", "headc", byTime, "<=", 1.10, "(e) extract -l -1 ÷ save \\| head -c", "", nil},
	{"f/savegz", "gzip", "f", "savegz", byTime, "<=", 0.60, "(f) extract .tar.gz ÷ save \\| gzip -6", "", []reach{{"fcpu/savegz", 0.60, false, "(f)'s CPU floor"}}},
	{"fcpu/savegz", "gzip", "f", "savegz", byCPUFloor, "info", 0, "(f)'s CPU floor ÷ save \\| gzip -6: (CPU s of extract + of the daemon during it) ÷ cores, ÷ the pipeline's time", "no scheduling of (f)'s work on this machine's cores can bring (f) ÷ save \\| gzip below it", nil},
	{"inspect/history", "inspect", "inspect", "history", byTime, "<=", 1.50, "(g) inspect ÷ docker history", "", nil},
	{"crane/input", "input", "crane", "input", byTime, ">=", 2.00, "(i) crane ÷ extract --input: extract ≥ 2× faster", "", []reach{{"inputcpu/crane", 0.50, false, "(i)'s CPU floor ÷ crane"}}},
	{"inputcpu/crane", "input", "input", "crane", byCPUFloor, "info", 0, "(i)'s CPU floor ÷ crane: (CPU s of extract --input) ÷ cores, ÷ crane's time", "above 0.50, no scheduling of extract's work on this machine's cores can make it 2× faster than crane; most of that CPU is SHA-256 over every layer, at the CPU's 1.43 GB/s", nil},
	{"rss b2x/b", "big", "b2x", "b", byRSS, "<", 1.10, "(h) peak RSS, 2x image ÷ 1x image", "", nil},
	{"k/ktop", "compare", "k", "ktop", byTime, "<=", 1.30, "(k) compare ÷ extract -l -1 of the copy", "", []reach{{"ksave/ktop", 1.30, false, "reading the whole stream, docker save ÷ extract -l -1"}}},
	{"ksave/ktop", "compare", "ksave", "ktop", byTime, "info", 0, "(k) docker save of the copy ÷ its extract -l -1", "the floor of (k) ÷ extract -l -1: compare needs every layer of the stream, where extract -l -1 stops once the top layer's blob is in (the daemon writes the blobs in digest order, so that may be early)", nil},
	{"k/ksave", "compare", "k", "ksave", byTime, "info", 0, "(k) compare ÷ docker save of the copy", "how far above reading the stream compare is", nil},
	{"written k/ktop", "compare", "k", "ktop", byWritten, "<=", 1.30, "(k) bytes written (spooled): compare ÷ extract -l -1", "", nil},
	{"rss k/ktop", "compare", "k", "ktop", byRSS, "info", 0, "(k) peak RSS: compare ÷ extract -l -1", "compare keeps each layer's headers and file sha256s in memory, about 200 bytes an entry", nil},
	{"rss lls", "scale", "lls", "", byRSSMiB, "<=", 64, "(l) peak RSS of ls -R --format json, MiB", "", nil},
	{"rss ldu", "scale", "ldu", "", byRSSMiB, "<=", 64, "(l) peak RSS of du, MiB", "", nil},
	{"lls/lx", "scale", "lls", "lx", byTime, "info", 0, "(l) ls -R --format json ÷ extract -o /dev/null", "ls formats a JSON row per file where extract copies its header", nil},
	{"ldu/lx", "scale", "ldu", "lx", byTime, "info", 0, "(l) du ÷ extract -o /dev/null", "du walks what extract walks, without writing", nil},
	{"ndive/neff", "efficiency", "ndive", "neff", byTime, ">=", 1.00, "(n) dive --ci ÷ efficiency: efficiency faster", "", nil},
	{"rss ndive/neff", "efficiency", "ndive", "neff", byRSS, ">=", 1.00, "(n) peak RSS, dive --ci ÷ efficiency: efficiency smaller", "", nil},
	{"nreport/neff", "efficiency", "nreport", "neff", byTime, "info", 0, "(n) report ÷ efficiency", "the report also lists every layer's changes and walks the merged tree", nil},
	{"rx/rcrane", "registry", "rx", "rcrane", byTime, "<=", 0.80, "(r) extract docker:// ÷ crane export of the same reference", "", nil},
	{"rss rx/rcrane", "registry", "rx", "rcrane", byRSS, "info", 0, "(r) peak RSS, extract docker:// ÷ crane export", "", nil},
	{"rtop/rx", "registry", "rtop", "rx", byTime, "info", 0, "(r) extract -l -1 ÷ the whole extract, from the registry", "extract -l -1 fetches the top layer's blob alone (see the bytes fetched)", nil},
}

// storeFloor: every flattener stores the stream (the output is in name
// order, and the save stream holds the layers in no useful order), and
// storing it is what `docker save -o FILE` does.
var storeFloor = reach{"asave/a", 1.10, false, "storing the stream, (a') ÷ (a)"}

const (
	rssLimitMiB = 64  // (h)
	minInputMBs = 500 // (i)
)

type report struct {
	meta     map[string]string
	samples  []sample
	commands map[[3]string]string // kind, group, variant -> command
	kinds    []string
	micro    string // go test -bench output (m), if run
	history  string // measurements behind design choices, kept across runs
	w        *bufio.Writer
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("dir", "", "run directory of run.sh (samples.tsv, commands.tsv, meta.tsv)")
	out := fs.String("o", "BENCHMARKS.md", "report to write")
	history := fs.String("history", "", "a Markdown file of earlier measurements behind design choices, copied into the report as it is")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("report: -dir is required")
	}
	r := &report{meta: map[string]string{}, commands: map[[3]string]string{}}
	if err := r.load(*dir); err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(*dir, "micro.txt")); err == nil {
		r.micro = string(b)
	}
	if *history != "" {
		b, err := os.ReadFile(*history)
		if err != nil {
			return err
		}
		r.history = string(b)
	}
	tmp := *out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	r.w = bufio.NewWriter(f)
	r.write()
	if err := r.w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

// readTSV calls fn with the fields of every line but the header.
func readTSV(path string, fn func([]string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 0; sc.Scan(); n++ {
		if n == 0 {
			continue
		}
		if err := fn(strings.Split(sc.Text(), "\t")); err != nil {
			return fmt.Errorf("%s line %d: %w", filepath.Base(path), n+1, err)
		}
	}
	return sc.Err()
}

func (r *report) load(dir string) error {
	err := readTSV(filepath.Join(dir, "meta.tsv"), func(f []string) error {
		if len(f) != 2 {
			return fmt.Errorf("want 2 fields, got %d", len(f))
		}
		if old, ok := r.meta[f[0]]; ok {
			r.meta[f[0]] = old + "\n" + f[1] // repeated keys (notes) accumulate
		} else {
			r.meta[f[0]] = f[1]
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.kinds = strings.Fields(r.meta["kinds"])
	if err := readTSV(filepath.Join(dir, "commands.tsv"), func(f []string) error {
		if len(f) != 4 {
			return fmt.Errorf("want 4 fields, got %d", len(f))
		}
		r.commands[[3]string{f[0], f[1], f[2]}] = f[3]
		return nil
	}); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	err = readTSV(filepath.Join(dir, "samples.tsv"), func(f []string) error {
		if len(f) != 11 && len(f) != 13 {
			return fmt.Errorf("want 11 or 13 fields, got %d", len(f))
		}
		var s sample
		var err error
		s.kind, s.group, s.variant = f[0], f[1], f[2]
		ints := []*int64{&s.rssKiB, &s.inBlocks, &s.outBlocks, &s.bytes}
		for i, p := range ints {
			if *p, err = strconv.ParseInt(f[5+i], 10, 64); err != nil {
				return err
			}
		}
		if s.round, err = strconv.Atoi(f[3]); err != nil {
			return err
		}
		if s.seconds, err = strconv.ParseFloat(f[4], 64); err != nil {
			return err
		}
		if s.rc, err = strconv.Atoi(f[9]); err != nil {
			return err
		}
		s.load1 = f[10]
		s.cpu, s.daemonCPU = -1, -1
		if len(f) == 13 { // runs before CPU times were recorded have 11
			if s.cpu, err = strconv.ParseFloat(f[11], 64); err != nil {
				return err
			}
			if s.daemonCPU, err = strconv.ParseFloat(f[12], 64); err != nil {
				return err
			}
		}
		r.samples = append(r.samples, s)
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func (r *report) p(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

// measured returns the samples of a variant that count: not warm-up, rc 0.
func (r *report) measured(kind, group, variant string) []sample {
	var out []sample
	for _, s := range r.samples {
		if s.kind == kind && s.group == group && s.variant == variant && s.round > 0 && s.rc == 0 {
			out = append(out, s)
		}
	}
	return out
}

type stats struct {
	n                int
	min, median, max float64
}

func summarize(xs []float64) stats {
	if len(xs) == 0 {
		return stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{n: len(s), min: s[0], median: m, max: s[len(s)-1]}
}

func field(ss []sample, fn func(sample) float64) stats {
	xs := make([]float64, len(ss))
	for i, s := range ss {
		xs[i] = fn(s)
	}
	return summarize(xs)
}

func seconds(s sample) float64 { return s.seconds }
func rssMiB(s sample) float64  { return float64(s.rssKiB) / 1024 }
func writtenMB(s sample) float64 {
	return float64(s.outBlocks) * 512 / 1e6
}

// secs formats a duration in seconds with a precision fit for its size.
func secs(x float64) string {
	switch {
	case x < 1:
		return fmt.Sprintf("%.3f", x)
	case x < 10:
		return fmt.Sprintf("%.2f", x)
	default:
		return fmt.Sprintf("%.1f", x)
	}
}

func (st stats) triple(format func(float64) string) string {
	if st.n == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / **%s** / %s", format(st.min), format(st.median), format(st.max))
}

func met(op string, v, target float64) bool {
	switch op {
	case "<=":
		return v <= target
	case "<":
		return v < target
	case ">=":
		return v >= target
	case ">":
		return v > target
	}
	return false
}

func opSign(op string) string {
	return map[string]string{"<=": "≤", "<": "<", ">=": "≥", ">": ">"}[op]
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "**NOT MET**"
}

// outOfReach returns why target q cannot be met on daemon kind, from the
// medians of its reach rows in this run (the one past its limit by the
// widest margin), or "".
func (r *report) outOfReach(kind string, q ratio) string {
	why, widest := "", 1.0
	for _, b := range q.reach {
		i := slices.IndexFunc(ratios, func(x ratio) bool { return x.id == b.id })
		if i < 0 {
			continue
		}
		rs := r.pairRatios(kind, ratios[i])
		if len(rs) == 0 {
			continue
		}
		m := summarize(rs).median
		margin, side := m/b.limit, "over"
		if b.below {
			margin, side = b.limit/m, "under"
		}
		if margin > widest {
			// Enough digits to tell the median from the limit.
			v := fmt.Sprintf("%.2f", m)
			if v == fmt.Sprintf("%.2f", b.limit) {
				v = fmt.Sprintf("%.3f", m)
			}
			why, widest = fmt.Sprintf("%s is %s, %s %.2f", b.why, v, side, b.limit), margin
		}
	}
	return why
}

// pairRatios returns num/den for every measured round that has both.
func (r *report) pairRatios(kind string, q ratio) []float64 {
	if q.metric == byRSSMiB {
		var out []float64
		for _, s := range r.measured(kind, q.group, q.num) {
			out = append(out, float64(s.rssKiB)/1024)
		}
		return out
	}
	num, den := seconds, seconds
	switch q.metric {
	case byRSS:
		num = func(s sample) float64 { return float64(s.rssKiB) }
		den = num
	case byWritten:
		num = func(s sample) float64 { return float64(s.outBlocks) }
		den = num
	case byCPUFloor:
		cores, _ := strconv.Atoi(r.meta["nproc"])
		if cores < 1 {
			return nil
		}
		num = func(s sample) float64 {
			if s.cpu < 0 || s.daemonCPU < 0 {
				return -1
			}
			return (s.cpu + s.daemonCPU) / float64(cores)
		}
	}
	dens := map[int]float64{}
	for _, s := range r.measured(kind, q.group, q.den) {
		dens[s.round] = den(s)
	}
	var out []float64
	for _, s := range r.measured(kind, q.group, q.num) {
		if d, ok := dens[s.round]; ok && d > 0 && num(s) >= 0 {
			out = append(out, num(s)/d)
		}
	}
	return out
}

func (r *report) kindTitle(kind string) string {
	layout := map[string]string{
		"legacy":     "legacy save layout",
		"oci":        "OCI save layout, uncompressed layers",
		"containerd": "containerd image store, gzip layer blobs",
		"moby29":     "containerd image store (Docker 29 default), gzip layer blobs",
	}[kind]
	return fmt.Sprintf("%s — Docker %s, %s", kind, r.meta["server."+kind], layout)
}

func mb(x int64) string { return fmt.Sprintf("%.0f MB", float64(x)/1e6) }

func (r *report) sizeOf(kind, key string) int64 {
	n, err := strconv.ParseInt(r.meta[key+"."+kind], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func (r *report) write() {
	m := r.meta
	r.p("# Benchmarks\n\n")
	r.p("Generated by `make bench` (`e2e/bench/run.sh`, report by `e2e/bench/benchtool`) on %s; the run took %s.\n", m["date"], m["duration"])
	r.p("Every figure below is from that one run. To reproduce:\n\n")
	r.p("    make bench\n\n")
	r.p("and for a quick subset, e.g. `BENCH_KINDS=oci BENCH_PAIRS=5 BENCH_ONLY=a,b make bench`\n")
	r.p("(see the header of `e2e/bench/run.sh` for every knob). This run: `%s`.\n\n", m["invocation"])

	r.p("## Machine and versions\n\n| | |\n|---|---|\n")
	for _, kv := range [][2]string{
		{"CPU", m["cpu"]}, {"cores (nproc)", m["nproc"]}, {"memory", m["memory"]},
		{"kernel", m["kernel"]}, {"disk (/ : benchmark files, spool, daemons' data-roots)", m["disk"]},
		{"load average before / after the run", m["load_before"] + " / " + m["load_after"]},
		{"docker CLI", m["client"]}, {"docker-layers (`bin/docker-layers version`)", m["version"]},
		{"crane", m["crane"]}, {"gzip", m["gzip"]}, {"igzip", m["igzip"]}, {"Go", m["go"]},
	} {
		if kv[1] == "" {
			continue
		}
		r.p("| %s | %s |\n", kv[0], kv[1])
	}
	for _, k := range r.kinds {
		r.p("| daemon `%s` | Docker %s |\n", k, m["server."+k])
	}
	r.p("\n")

	r.p("## Method\n\n")
	r.p("- Images, built offline by run.sh (classic builder, `--network none`, from hard links to this machine's /usr/lib/x86_64-linux-gnu, /usr/local/go and /usr/share/{doc,man,locale,vim}): `docker-layers-bench:1x` (`e2e/bench/Dockerfile`: busybox base, four COPY layers, a `RUN rm -rf` layer of whiteouts only, and a top layer of ~130 MB of new files plus a deletion) on every daemon")
	if bk := m["big_kind"]; m["layers_2x."+bk] != "" {
		r.p(", and `docker-layers-bench:2x` (`Dockerfile.2x`: the same content twice, %s layers, %s) on the `%s` daemon", m["layers_2x."+bk], mb(r.sizeOf(bk, "image_size_2x")), bk)
	}
	r.p(". Layer counts and sizes are under each daemon's results.\n")
	r.p("- Runs are interleaved in **rounds**: each round runs every variant of its group once, in the order of the tables below. A ratio is computed inside each round (one pair: the two variants of the same round) and the report gives the **median of the per-pair ratios** with their min–max. Round 0 is a warm-up: recorded in the raw samples, not in any figure. %s measured rounds per group, %s for (g).\n", m["pairs"], m["short_pairs"])
	r.p("- Wall time from bash's `EPOCHREALTIME` around the run; peak RSS (\"Maximum resident set size\") and bytes written (\"File system outputs\" × 512, i.e. data the process itself wrote to files: spooling shows here) from `/usr/bin/time -v` around the run. For a pipeline, `/usr/bin/time` wraps `bash -c` and RSS is that of its largest process. CPU seconds: user + system time of the run's processes (`/usr/bin/time -v`), and of the daemon (dockerd and the containerd it started, from /proc/PID/stat before and after the run). The daemon's work is in the wall time and its CPU column, not in RSS or bytes written. A \"CPU floor\" row divides the CPU seconds of a run and of the daemon during it by the cores: no scheduling of that work can take less wall time.\n")
	r.p("- Outputs to a file go to `%s` on the same disk and are removed after each run (not timed). docker-layers spools to `$TMPDIR` (`%s`, same disk).\n", m["rundir"], m["tmpdir"])
	r.p("- (c) `docker create` runs before and `docker rm` after the timed `docker export`: create is **not** timed. (e) OFFSET is the byte just past the top layer's blob in a `docker save -o` copy of the image (`benchtool offset`). (i) the archive is `cat` to /dev/null before each run (page-cached); MB/s is the archive's size over the time, as the target defines it: the containerd store's archive holds gzip blobs, about a third of the uncompressed size, so its MB/s is not comparable with the other two. `crane export -` first copies stdin to a temp file (in its \"written\" column).\n")
	r.p("- `sync` runs (not timed) before every run, so that no run pays for the writeback of the gigabytes an earlier one wrote (`docker save -o`, crane's temp file, extract's spool and output): without it, whichever variant follows those in a round is throttled by the kernel's dirty-page limits.\n")
	r.p("- Ratios are judged on their median. Other work ran on the machine at the same time (see the load averages), so single runs are noisy; the pairs are what make the ratios comparable.\n")
	r.p("- A NOT MET verdict adds \"out of reach here\" when an info row of the same daemon in the same run is past the target: a floor that no code can go under (storing the stream as `docker save -o` does, which every flattener must, since the save stream holds the layers in no useful order and the output is in name order; storing it and then writing the output with `copy_file_range`, for `-o FILE.tar`: the top layer's blob ends the stream, and until it is in hand no entry below it can be written; the CPU seconds of the run spread over every core) or a ceiling that no code can go over (crane's time over storing the stream; (a) ÷ (c), as no reader of the save stream is faster than the stream; for gzip layers, the archive's size over the CPU time of ISA-L's igzip inflating them, spread over every core). It names the row past the target by the widest margin.\n")
	if notes := m["note"]; notes != "" {
		for _, n := range strings.Split(notes, "\n") {
			r.p("- %s\n", n)
		}
	}
	r.p("\n")

	r.writeTargets()
	for _, k := range r.kinds {
		r.writeKind(k)
	}
	r.writeMicro()
	if r.history != "" {
		r.p("%s\n", strings.TrimSpace(r.history))
	}
	r.writeRaw()
}

// writeMicro writes the library micro-benchmarks (m) as go test printed
// them.
func (r *report) writeMicro() {
	if r.micro == "" {
		return
	}
	r.p("## (m) Micro-benchmarks of the libraries\n\n")
	r.p("`go test -run '^$' -bench . -benchmem -count 3 ./flatten ./extract`, in the same run: flatten on synthetic layers (100,000 tiny files; a few huge files; deep whiteout churn) and extract reading a save stream and an archive, all in memory or page cache, no daemon.\n\n")
	r.p("```\n%s```\n\n", r.micro)
}

func (r *report) writeTargets() {
	r.p("## Targets\n\n")
	r.p("| target | daemon | measured: median (min–max of the pairs) | target | verdict |\n|---|---|---|---|---|\n")
	notMet, outOfReach := 0, 0
	row := func(what, kind, measured, target string, ok bool, why string) {
		v := verdict(ok)
		if !ok {
			notMet++
			if why != "" {
				outOfReach++
				v += ", out of reach here: " + why
			}
		}
		r.p("| %s | %s | %s | %s | %s |\n", what, kind, measured, target, v)
	}
	for _, q := range ratios {
		for _, k := range r.kinds {
			rs := r.pairRatios(k, q)
			if len(rs) == 0 {
				continue
			}
			st := summarize(rs)
			if q.op == "info" {
				r.p("| %s | %s | **%.2f** (%.2f–%.2f, %d pairs) | – (%s) | info |\n", q.what, k, st.median, st.min, st.max, st.n, q.note)
				continue
			}
			med := fmt.Sprintf("%.2f", st.median)
			if med == fmt.Sprintf("%.2f", q.target) {
				med = fmt.Sprintf("%.3f", st.median) // on the target: enough digits to see which side
			}
			row(q.what, k, fmt.Sprintf("**%s** (%.2f–%.2f, %d pairs)", med, st.min, st.max, st.n),
				fmt.Sprintf("%s %.2f", opSign(q.op), q.target), met(q.op, st.median, q.target), r.outOfReach(k, q))
		}
	}
	// (h) absolute peak RSS of every whole-image extract to /dev/null or a file.
	for _, k := range r.kinds {
		var ss []sample
		for _, gv := range [][2]string{{"stream", "b"}, {"stream", "bfile"}, {"big", "b"}, {"big", "b2x"}} {
			ss = append(ss, r.measured(k, gv[0], gv[1])...)
		}
		if len(ss) == 0 {
			continue
		}
		st := field(ss, rssMiB)
		row("(h) peak RSS of (b), every run (1x and 2x image, -o /dev/null and FILE.tar)", k,
			fmt.Sprintf("max **%.1f MiB** (median %.1f, %d runs)", st.max, st.median, st.n),
			fmt.Sprintf("≤ %d MiB", rssLimitMiB), st.max <= rssLimitMiB, "")
	}
	// (i) throughput, and where the layers are gzip, the most any tool
	// that inflates them can reach.
	for _, k := range r.kinds {
		ss := r.measured(k, "input", "input")
		size := r.sizeOf(k, "save_bytes")
		if len(ss) == 0 || size == 0 {
			continue
		}
		st := field(ss, func(s sample) float64 { return float64(size) / 1e6 / s.seconds })
		why := ""
		if c, ok := r.inflateCeiling(k, size); ok {
			r.p("| %s | %s | **%.0f MB/s** (%.0f–%.0f, %d runs) | – (%s) | info |\n", inflateCeilingWhat, k, c.median, c.min, c.max, c.n, inflateCeilingNote)
			if c.median < minInputMBs {
				why = fmt.Sprintf("inflating the layer blobs alone with igzip (ISA-L) on every core is %.0f MB/s of the archive, under %d", c.median, minInputMBs)
			}
		}
		row("(i) extract --input saved.tar -o - throughput", k,
			fmt.Sprintf("**%.0f MB/s** (%.0f–%.0f)", st.median, st.min, st.max),
			fmt.Sprintf("≥ %d MB/s", minInputMBs), st.median >= minInputMBs, why)
	}
	r.p("\n%d target rows NOT MET", notMet)
	if outOfReach > 0 {
		r.p(", %d of them out of reach on this machine: a floor or ceiling row of the same run shows that no code could meet them", outOfReach)
	}
	r.p(".")
	if failed := r.failed(); failed > 0 {
		r.p(" **%d runs failed** (see the raw samples; they are in no figure).", failed)
	}
	r.p("\n\n")
}

const (
	inflateCeilingWhat = "(i) inflation ceiling: the archive's size ÷ (igzip's CPU s inflating its gzip layer blobs ÷ cores)"
	inflateCeilingNote = "the most MB/s of this archive any tool that inflates its layers can reach on this machine's cores, with the fastest inflater there is here (ISA-L's SIMD igzip), before any hashing, indexing or writing"
)

// inflateCeiling returns, per run of the inflate variant on daemon kind,
// the archive's size over igzip's CPU seconds spread over every core, in
// MB/s; false when the variant did not run (the archive has no gzip
// layers) or CPU times are unknown.
func (r *report) inflateCeiling(kind string, size int64) (stats, bool) {
	cores, _ := strconv.Atoi(r.meta["nproc"])
	var xs []float64
	for _, s := range r.measured(kind, "input", "inflate") {
		if s.cpu > 0 && cores > 0 {
			xs = append(xs, float64(size)/1e6/(s.cpu/float64(cores)))
		}
	}
	return summarize(xs), len(xs) > 0
}

func (r *report) failed() int {
	n := 0
	for _, s := range r.samples {
		if s.rc != 0 {
			n++
		}
	}
	return n
}

// cpuTimes formats the median CPU seconds of the runs and of the daemon
// during them; "–" for runs recorded without them.
func cpuTimes(ss []sample) string {
	var own, daemon []float64
	for _, s := range ss {
		if s.cpu >= 0 && s.daemonCPU >= 0 {
			own, daemon = append(own, s.cpu), append(daemon, s.daemonCPU)
		}
	}
	if len(own) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f + %.1f", summarize(own).median, summarize(daemon).median)
}

func (r *report) writeKind(kind string) {
	r.p("## %s\n\n", r.kindTitle(kind))
	r.p("Image `docker-layers-bench:1x`: %s layers, `docker image inspect` size %s, `docker save` stream %s (%s bytes).",
		r.meta["layers."+kind], mb(r.sizeOf(kind, "image_size")), mb(r.sizeOf(kind, "save_bytes")), r.meta["save_bytes."+kind])
	if t := r.meta["top."+kind]; t != "" {
		r.p(" Top layer blob: %s.", t)
	}
	if g := r.meta["gzip_blobs."+kind]; g != "" {
		r.p(" The saved archive holds %s.", g)
	}
	if s := r.sizeOf(kind, "image_size_2x"); s > 0 {
		r.p(" Image `docker-layers-bench:2x`: %s layers, inspect size %s.", r.meta["layers_2x."+kind], mb(s))
	}
	if c := r.meta["compare_rows."+kind]; c != "" {
		r.p(" Image `docker-layers-bench:1x-plus` (`e2e/bench/Dockerfile.plus`): %s layers; (k)'s comparison gives rows %s.", r.meta["layers_plus."+kind], c)
	}
	if f := r.sizeOf(kind, "fetched_rx"); f > 0 {
		r.p(" (r) blob bytes fetched from the registry (its log, one run each): extract %s, crane export %s, extract -l -1 %s (%.1f%% of crane's).",
			mb(f), mb(r.sizeOf(kind, "fetched_rcrane")), mb(r.sizeOf(kind, "fetched_rtop")), 100*float64(r.sizeOf(kind, "fetched_rtop"))/float64(max(r.sizeOf(kind, "fetched_rcrane"), 1)))
	}
	r.p("\n\n")
	for _, g := range groupOrder {
		var rows []variantInfo
		for _, v := range variants {
			if v.group == g && len(r.measured(kind, g, v.key))+r.count(kind, g, v.key) > 0 {
				rows = append(rows, v)
			}
		}
		if len(rows) == 0 {
			continue
		}
		r.p("### %s\n\n", groupTitles[g])
		r.p("| variant | runs | seconds min / **median** / max | MB/s (median) | peak RSS MiB min / **median** / max | written by the process, MB (median) | CPU s: the run + the daemon (median) |\n|---|---|---|---|---|---|---|\n")
		for _, v := range rows {
			ss := r.measured(kind, g, v.key)
			t := field(ss, seconds)
			rate := "–"
			if size := r.sizeOf(kind, v.sizeKey); v.sizeKey != "" && size > 0 && t.n > 0 {
				rate = fmt.Sprintf("%.0f", float64(size)/1e6/t.median)
			}
			runs := fmt.Sprintf("%d", t.n)
			if bad := r.count(kind, g, v.key) - r.countOK(kind, g, v.key); bad > 0 {
				runs += fmt.Sprintf(" (+%d failed)", bad)
			}
			r.p("| %s | %s | %s | %s | %s | %s | %s |\n", v.label, runs, t.triple(secs), rate,
				field(ss, rssMiB).triple(func(x float64) string { return fmt.Sprintf("%.1f", x) }),
				fmtMB(field(ss, writtenMB)), cpuTimes(ss))
		}
		for _, q := range ratios {
			if q.group != g {
				continue
			}
			if rs := r.pairRatios(kind, q); len(rs) > 0 {
				st := summarize(rs)
				if q.op == "info" {
					r.p("\n%s: **%.2f** (pairs %.2f–%.2f), no target (%s)", q.what, st.median, st.min, st.max, q.note)
					continue
				}
				r.p("\n%s: **%.2f** (pairs %.2f–%.2f), target %s %.2f: %s", q.what, st.median, st.min, st.max,
					opSign(q.op), q.target, verdict(met(q.op, st.median, q.target)))
			}
		}
		r.p("\n\nCommands (DOCKER_HOST is this daemon's socket, run from the repository root):\n\n")
		for _, v := range rows {
			if c := r.commands[[3]string{kind, g, v.key}]; c != "" {
				r.p("- %s: `%s`\n", v.key, strings.ReplaceAll(c, "`", "'"))
			}
		}
		r.p("\n")
	}
}

func fmtMB(st stats) string {
	if st.n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", st.median)
}

func (r *report) count(kind, group, variant string) int {
	n := 0
	for _, s := range r.samples {
		if s.kind == kind && s.group == group && s.variant == variant && s.round > 0 {
			n++
		}
	}
	return n
}

func (r *report) countOK(kind, group, variant string) int {
	return len(r.measured(kind, group, variant))
}

func (r *report) writeRaw() {
	r.p("## Raw samples\n\n<details><summary>%d runs (round 0 is the warm-up)</summary>\n\n", len(r.samples))
	r.p("| daemon | group | variant | round | seconds | peak RSS KiB | FS in blocks | FS out blocks | output bytes | exit | load1 |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.samples {
		b := "–"
		if s.bytes >= 0 {
			b = strconv.FormatInt(s.bytes, 10)
		}
		r.p("| %s | %s | %s | %d | %.3f | %d | %d | %d | %s | %d | %s |\n",
			s.kind, s.group, s.variant, s.round, s.seconds, s.rssKiB, s.inBlocks, s.outBlocks, b, s.rc, s.load1)
	}
	r.p("\n</details>\n")
}
