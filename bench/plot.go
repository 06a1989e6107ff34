package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// results.png: grouped bar charts of CPU µs/request and peak RSS, one small
// chart per scenario (each with its own scale, since a 1 GiB stream and a
// 1 KiB GET differ by orders of magnitude), one coloured bar per target.
// Drawn with the standard image packages and the 7x13 bitmap font, which
// has ASCII only (so "us", not "µs").

const (
	plotCharW   = 7  // basicfont.Face7x13 advance, px
	plotSlotMin = 78 // px per bar slot: fits an 11-character label
	plotAxisW   = 56 // px for the y-axis labels of a chart
	plotChartH  = 230
	plotGap     = 24
	plotMargin  = 16
)

var (
	plotBG     = color.RGBA{0xff, 0xff, 0xff, 0xff}
	plotInk    = color.RGBA{0x20, 0x20, 0x20, 0xff}
	plotGrid   = color.RGBA{0xe0, 0xe0, 0xe0, 0xff}
	plotFaint  = color.RGBA{0x80, 0x80, 0x80, 0xff}
	plotColors = map[string]color.RGBA{
		targetDirect:     {0x9e, 0x9e, 0x9e, 0xff},
		targetYatagarasu: {0xc6, 0x28, 0x28, 0xff},
		targetNginx:      {0x2e, 0x7d, 0x32, 0xff},
		targetHAProxy:    {0x15, 0x65, 0xc0, 0xff},
	}
	// Further targets (yatagarasu profiles) take these in order.
	plotExtra = []color.RGBA{{0xef, 0x6c, 0x00, 0xff}, {0x6a, 0x1b, 0x9a, 0xff}, {0x00, 0x83, 0x8f, 0xff}, {0x79, 0x55, 0x48, 0xff},
		{0xad, 0x14, 0x57, 0xff}, {0x9e, 0x9d, 0x24, 0xff}}
)

// plotMetric is one row of charts.
type plotMetric struct {
	title string
	value func(row) float64
}

// writePlot draws results.png at path.
func writePlot(path string, res *results) error {
	targets := res.Targets
	// The resilience scenarios have their own table; CPU and RSS bars of a
	// failing origin would only mislead. idle10k measures no requests.
	var scs []scenario
	for _, sc := range res.Scenarios {
		if !sc.resilience() && sc.Kind != kindIdle {
			scs = append(scs, sc)
		}
	}
	if len(targets) == 0 || len(scs) == 0 {
		return nil
	}
	colors := map[string]color.RGBA{}
	extra := 0
	for _, t := range targets {
		if c, ok := plotColors[t]; ok {
			colors[t] = c
			continue
		}
		colors[t] = plotExtra[extra%len(plotExtra)]
		extra++
	}
	metrics := []plotMetric{
		{"CPU us/request (lower is better)", func(r row) float64 { return r.CPUPerReqUS }},
		{"peak RSS MiB (lower is better)", func(r row) float64 { return r.PeakRSSMiB }},
	}

	// Each scenario's chart has a slot for each target it measured (the
	// large objects measure yatagarasu's public profile only).
	chartTargets := make([][]string, len(scs))
	chartW := make([]int, len(scs))
	w := 2*plotMargin + (len(scs)-1)*plotGap
	for i, sc := range scs {
		for _, t := range targets {
			if slices.ContainsFunc(res.Rows, func(r row) bool { return r.Scenario == sc.Name && r.Target == t }) {
				chartTargets[i] = append(chartTargets[i], t)
			}
		}
		if len(chartTargets[i]) == 0 {
			chartTargets[i] = targets
		}
		chartW[i] = plotAxisW + plotSlotMin*len(chartTargets[i]) + 8
		w += chartW[i]
	}
	header := 78
	h := header + len(metrics)*(plotChartH+plotGap) + plotMargin
	// Wide enough for the title and the legend on one line each.
	legendW := 0
	for _, t := range targets {
		legendW += 34 + len(t)*plotCharW
	}
	w = max(w, 2*plotMargin+legendW+len(" (origin's own cost)")*plotCharW, 2*plotMargin+70*plotCharW)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), plotBG)

	text(img, plotMargin, 18, fmt.Sprintf("yatagarasu bench %s  nproc=%d  loader=%s",
		res.Started.Format("2006-01-02 15:04"), res.Nproc, res.Loader), plotInk)
	text(img, plotMargin, 34, res.Pinning, plotFaint)
	// Legend.
	x := plotMargin
	for _, t := range targets {
		fill(img, image.Rect(x, 46, x+12, 58), colors[t])
		label := t
		if t == targetDirect {
			label += " (origin's own cost)"
		}
		text(img, x+16, 57, label, plotInk)
		x += 16 + len(label)*plotCharW + 18
	}

	for m, metric := range metrics {
		top := header + m*(plotChartH+plotGap)
		left := plotMargin
		for s, sc := range scs {
			drawChart(img, image.Rect(left, top, left+chartW[s], top+plotChartH),
				sc.Name+": "+metric.title, sc.Name, chartTargets[s], colors, res.Rows, metric.value)
			left += chartW[s] + plotGap
		}
	}

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		_ = f.Close()
		return fmt.Errorf("bench: plot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	return nil
}

// drawChart draws one bar chart of one metric for one scenario into r.
func drawChart(img *image.RGBA, r image.Rectangle, title, scenarioName string, targets []string,
	colors map[string]color.RGBA, rows []row, value func(row) float64) {
	text(img, r.Min.X, r.Min.Y+12, clip(title, r.Dx()/plotCharW), plotInk)
	plot := image.Rect(r.Min.X+plotAxisW, r.Min.Y+34, r.Max.X-8, r.Max.Y-20)

	vals := make([]float64, len(targets))
	ok := make([]bool, len(targets))
	top := 0.0
	for i, t := range targets {
		// With -rounds a target has a row per round: its bar is their median.
		var vs []float64
		for _, rw := range rows {
			if rw.Scenario == scenarioName && rw.Target == t && rw.Error == "" {
				vs = append(vs, value(rw))
			}
		}
		if len(vs) > 0 {
			vals[i], ok[i] = median(vs), true
			top = max(top, vals[i])
		}
	}
	top = niceCeil(top * 1.1)

	// Grid and y labels: 0, 1/4, ..., top.
	for k := 0; k <= 4; k++ {
		v := top * float64(k) / 4
		y := plot.Max.Y - int(float64(plot.Dy())*float64(k)/4)
		fill(img, image.Rect(plot.Min.X, y, plot.Max.X, y+1), plotGrid)
		label := strconv.FormatFloat(v, 'f', -1, 64)
		if len(label) > 7 {
			label = fmtNum(v)
		}
		text(img, plot.Min.X-4-len(label)*plotCharW, y+4, label, plotFaint)
	}
	fill(img, image.Rect(plot.Min.X, plot.Min.Y, plot.Min.X+1, plot.Max.Y+1), plotInk)
	fill(img, image.Rect(plot.Min.X, plot.Max.Y, plot.Max.X, plot.Max.Y+1), plotInk)

	slot := plot.Dx() / len(targets)
	for i, t := range targets {
		cx := plot.Min.X + i*slot + slot/2
		name := clip(barLabel(t), slot/plotCharW)
		text(img, cx-len(name)*plotCharW/2, plot.Max.Y+15, name, plotInk)
		if !ok[i] {
			text(img, cx-3*plotCharW/2, plot.Max.Y-4, "n/a", plotFaint)
			continue
		}
		bh := 0
		if top > 0 {
			bh = int(math.Round(float64(plot.Dy()) * vals[i] / top))
		}
		bw := slot * 6 / 10
		fill(img, image.Rect(cx-bw/2, plot.Max.Y-bh, cx+bw/2, plot.Max.Y), colors[t])
		label := fmtNum(vals[i])
		text(img, cx-len(label)*plotCharW/2, plot.Max.Y-bh-4, label, plotInk)
	}
}

// barLabel names a bar: a yatagarasu profile by its profile name alone
// (the legend has the full target names), so that it fits its slot.
func barLabel(t string) string {
	if p, ok := strings.CutPrefix(t, targetYatagarasu+":"); ok {
		return p
	}
	return t
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, so the
// quarter gridlines get short labels.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// clip shortens s to at most n characters.
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// text draws s with its baseline at y.
func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
