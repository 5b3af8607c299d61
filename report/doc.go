// Package report owns the HTML report of one image ("docker layers
// report"): its own plain data model ([Data]), what fills it from an
// image ([Gather]), and the page ([Write]).
//
// The page is one self-contained HTML file: its style sheet and its small
// script are inline, it loads nothing (no fonts, no images, no CDN), and it
// works offline in any browser. It is rendered on the server side with
// html/template, which escapes every value for its context: paths,
// commands and tags come from the image and are never trusted. The
// treemap is laid out here (squarified, treemap.go) as boxes positioned in
// percent of its frame; the script only shows the tooltips and highlights
// a layer's boxes.
//
// The page stays small however large the image: [Write] lists at most
// [MaxChanges] changes per layer and [MaxWasted] wasted files (the largest
// first), and draws at most [MaxBoxes] treemap boxes (the largest; the
// rest of each directory is one "other" box), whatever Data holds.
//
// The package is a library: it imports neither cobra nor docker/cli.
package report
