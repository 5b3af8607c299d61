package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

var screenshot = flag.String("screenshot", "", "TestReport saves the screenshot of the fixture's report there (docs/report.png); default a temporary file")

// chromium returns the path of a Chromium (e2e/daemons/install.sh installs
// it). A missing one skips the test locally and fails it on CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing: run e2e/daemons/install.sh")
	}
	t.Skip("chromium is missing: run e2e/daemons/install.sh")
	return ""
}

// rendered is what a browser made of a report.
type rendered struct {
	layers, changes, boxes int
	tip                    string   // the tooltip of the largest box
	problems               []string // script errors, console errors and warnings
	requests               []string // the URLs requested
	png                    []byte   // a screenshot of the whole page, with layer 3 open
}

// browse opens the page file in headless Chromium over the DevTools
// protocol, hovers over the treemap and takes a screenshot.
func browse(t *testing.T, browser, file string) rendered {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	actx, cancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // as root
		chromedp.WindowSize(1280, 1600),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
	)...)
	defer cancel()
	var (
		r  rendered
		mu sync.Mutex // r.problems and r.requests, filled as events come
	)
	cctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			x := ev.ExceptionDetails
			msg := x.Text
			if x.Exception != nil {
				msg += " " + x.Exception.Description
			}
			r.problems = append(r.problems, fmt.Sprintf("exception at %d:%d: %s", x.LineNumber+1, x.ColumnNumber+1, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				r.problems = append(r.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *log.EventEntryAdded: // CSP violations, failed loads
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				r.problems = append(r.problems, fmt.Sprintf("log %s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			r.requests = append(r.requests, ev.Request.URL)
		}
	}))
	defer cancel()
	err := func() error {
		err := chromedp.Do(cctx,
			chromedp.Navigate("file://"+file),
			chromedp.WaitVisible(chromedp.CSS("#treemap")),
		)
		if err != nil {
			return err
		}
		if r.layers, err = chromedp.Run(cctx, chromedp.Evaluate[int](`document.querySelectorAll('details.layer').length`)); err != nil {
			return err
		}
		if r.boxes, err = chromedp.Run(cctx, chromedp.Evaluate[int](`document.querySelectorAll('#treemap .box').length`)); err != nil {
			return err
		}
		// Hover over the middle of the largest file's box.
		at, err := chromedp.Run(cctx, chromedp.Evaluate[[]float64](`(() => {
			const b = document.querySelector('#treemap .box:not(.dir):not(.other)').getBoundingClientRect();
			return [b.x + b.width / 2, b.y + b.height / 2];
		})()`))
		if err != nil {
			return err
		}
		if err := chromedp.Do(cctx, chromedp.MouseEvent(chromedp.MouseMoved, at[0], at[1]), chromedp.WaitVisible(chromedp.CSS("#tip"))); err != nil {
			return err
		}
		if r.tip, err = chromedp.Run(cctx, chromedp.Text(chromedp.CSS("#tip"))); err != nil {
			return err
		}
		// Away from the treemap, open layer 3 (it adds, changes and deletes),
		// and take a screenshot of the whole page.
		err = chromedp.Do(cctx,
			chromedp.MouseEvent(chromedp.MouseMoved, 1, 1),
			chromedp.WaitNotVisible(chromedp.CSS("#tip")),
			chromedp.Click(chromedp.CSS("#layer-3 > summary")),
		)
		if err != nil {
			return err
		}
		if r.changes, err = chromedp.Run(cctx, chromedp.Evaluate[int](`document.querySelectorAll('details.layer[open] tr.change').length`)); err != nil {
			return err
		}
		r.png, err = chromedp.Run(cctx, chromedp.FullScreenshot(100))
		return err
	}()
	cancel() // the browser, and its events, end here
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		t.Fatalf("browsing %s: %v (problems: %v)", file, err, r.problems)
	}
	return r
}

// TestReport writes the fixture's report with every flag of the command,
// opens it in headless Chromium, and checks that the page rendered its
// layers, its changes, its treemap and its tooltips, without a script
// error and without a network request.
func TestReport(t *testing.T) {
	browser := chromium(t)
	const img = "docker-layers-fixture:latest"
	forEachDaemon(t, func(t *testing.T, d daemon) {
		dir := t.TempDir()
		tmp := filepath.Join(dir, "tmp")
		if err := os.Mkdir(tmp, 0o755); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "report.html")
		nlayers := len(lines(must(t, d.plugin(t, "inspect", "-q", img))))
		must(t, d.plugin(t, "report", "-o", out, "--tmpdir", tmp, img))
		// An existing file needs --force; -l lists only those layers' changes.
		if r := d.plugin(t, "report", "-o", out, img); r.code != 2 || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("report over an existing file: %s", r)
		}
		must(t, d.standalone(t, "report", "-f", "-o", out, "-l", "3", "--tmpdir", tmp, img))
		if left, _ := filepath.Glob(filepath.Join(dir, ".report.html.*")); len(left) > 0 {
			t.Errorf("temp files left: %v", left)
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Errorf("files left in --tmpdir: %v", left)
		}
		page, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{img, "/app/old", "rm -rf /app/old", "/app/data/numbers.txt"} {
			if !strings.Contains(string(page), want) {
				t.Errorf("the page does not show %q", want)
			}
		}
		// From a saved archive, with --input and --platform: the same
		// layers and wasted files.
		saved := filepath.Join(dir, "saved.tar")
		must(t, d.docker(t, "save", "-o", saved, img))
		own := strings.TrimSpace(must(t, d.docker(t, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", img)))
		fromArchive := must(t, d.standalone(t, "report", "--input", saved, "--platform", own, "-o", "-", img))
		if n := strings.Count(fromArchive, `<details class="layer"`); n != nlayers {
			t.Errorf("the report of the archive shows %d layers, want %d", n, nlayers)
		}
		for _, want := range []string{"/app/data/numbers.txt</td><td><span class=\"sw c2\"></span>layer 2, <span class=\"sw c6\"></span>layer 6</td><td>replaced", own} {
			if !strings.Contains(fromArchive, want) {
				t.Errorf("the report of the archive does not show %q", want)
			}
		}
		// -o - writes the same page to stdout.
		if got := must(t, d.plugin(t, "report", "-o", "-", "-l", "3", img)); got != string(page) {
			t.Errorf("-o - wrote %d bytes, -o FILE %d", len(got), len(page))
		}

		r := browse(t, browser, out)
		if r.layers != nlayers {
			t.Errorf("the page shows %d layers, want %d", r.layers, nlayers)
		}
		if r.changes == 0 {
			t.Error("layer 3, opened, lists no changes")
		}
		if r.boxes == 0 {
			t.Error("the treemap has no boxes")
		}
		if !strings.Contains(r.tip, "/bin/busybox") || !strings.Contains(r.tip, "layer 0") {
			t.Errorf("the tooltip of the largest box says %q, want /bin/busybox and its layer", r.tip)
		}
		for _, p := range r.problems {
			t.Errorf("the page logged: %s", p)
		}
		for _, u := range r.requests {
			if u != "file://"+out {
				t.Errorf("the page requested %s", u)
			}
		}
		shot := filepath.Join(dir, "report.png")
		if *screenshot != "" && d.kind == "legacy" {
			shot = *screenshot
		}
		if err := os.WriteFile(shot, r.png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", shot)
	})
}
