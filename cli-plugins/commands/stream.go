package commands

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/cli/templates"
)

// streamBlock is how many rows a streamed table aligns at a time.
const streamBlock = 4096

// rowStream writes rows as formatter.Context.Write does (the same
// formats: table, table TEMPLATE, json, TEMPLATE), without holding them
// all: for outputs that grow with the number of files. A table is aligned
// in blocks of streamBlock rows, so a listing of one directory looks as
// docker's tables do, and a listing of a million files streams.
type rowStream struct {
	tmpl *template.Template // nil for json: rows marshal themselves
	json bool
	out  *bufio.Writer
	tw   *tabwriter.Writer // tables only
	rows int
}

// newRowStream parses fmtCtx.Format; header gives the table's headings.
func newRowStream(fmtCtx formatter.Context, header formatter.SubContext) (*rowStream, error) {
	f := string(fmtCtx.Format)
	switch {
	case fmtCtx.Format.IsTable():
		f = f[len(formatter.TableFormatKey):]
	case fmtCtx.Format.IsJSON():
		f = formatter.JSONFormat
	}
	f = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(f, " "))
	tmpl, err := templates.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	s := &rowStream{tmpl: tmpl, out: bufio.NewWriterSize(fmtCtx.Output, 64<<10), json: fmtCtx.Format.IsJSON()}
	if fmtCtx.Format.IsTable() {
		s.tw = tabwriter.NewWriter(s.out, 10, 1, 3, ' ', 0)
		if err := tmpl.Funcs(templates.HeaderFunctions).Execute(s.tw, header.FullHeader()); err != nil {
			return nil, fmt.Errorf("template parsing error: %w", err)
		}
		if _, err := s.tw.Write([]byte("\n")); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// row writes one row.
func (s *rowStream) row(sub formatter.SubContext) error {
	if m, ok := sub.(json.Marshaler); ok && s.json {
		// What {{json .}} gives, without the template's reflection and
		// re-encoding: a third of ls -R's time on a million files.
		b, err := m.MarshalJSON()
		if err != nil {
			return err
		}
		if _, err := s.out.Write(b); err != nil {
			return err
		}
		return s.out.WriteByte('\n')
	}
	var w interface{ Write([]byte) (int, error) } = s.out
	if s.tw != nil {
		w = s.tw
	}
	if err := s.tmpl.Execute(w, sub); err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	if _, err := w.Write([]byte("\n")); err != nil {
		return err
	}
	s.rows++
	if s.tw != nil && s.rows%streamBlock == 0 {
		return s.tw.Flush()
	}
	return nil
}

// close writes what is held.
func (s *rowStream) close() error {
	if s.tw != nil {
		if err := s.tw.Flush(); err != nil {
			return err
		}
	}
	return s.out.Flush()
}
