package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strconv"
)

// soak.png: RSS, Go heap in use and goroutines of the proxy over the time
// of phases 1 (requests) and 2 (reloads), one panel each on a shared time
// axis. The phases are shaded, their warm-ups greyed, and the means the
// growth figures compare (first and last 10 % after the warm-up) drawn as
// thick dark segments.

const (
	soakPlotW      = 1100
	soakPlotPanelH = 210
	soakPlotLeft   = 72 // y labels
	soakPlotRight  = 24
	soakPlotTop    = 70 // title, legend
	soakPlotGap    = 40 // between panels: the next panel's title
	soakPlotBottom = 48 // x labels and axis title
)

var (
	soakShade = map[string]color.RGBA{
		soakPhaseRequest: {0xe3, 0xf2, 0xfd, 0xff},
		soakPhaseReload:  {0xff, 0xf0, 0xdc, 0xff},
	}
	soakWarmShade = color.RGBA{0xe8, 0xe8, 0xe8, 0xff}
	soakLine      = color.RGBA{0xc6, 0x28, 0x28, 0xff}
	soakMean      = color.RGBA{0x10, 0x10, 0x10, 0xff}
)

// soakPanel is one metric's chart.
type soakPanel struct {
	title  string
	value  func(soakSample) float64
	growth func(soakPhase) growthStats
}

// writeSoakPlot draws soak.png at path; nothing without two samples.
func writeSoakPlot(path string, res *soakResults) error {
	var samples []soakSample
	for _, s := range res.Samples {
		if s.Err == "" {
			samples = append(samples, s)
		}
	}
	if len(samples) < 2 {
		return nil
	}
	heap := res.HeapSeries
	if heap == "" {
		heap = "/metrics"
	}
	panels := []soakPanel{
		{"RSS MiB (VmRSS, /proc)", func(s soakSample) float64 { return s.RSSMiB }, func(p soakPhase) growthStats { return p.RSS }},
		{"Go heap in use MiB (" + heap + ")", func(s soakSample) float64 { return s.HeapMiB }, func(p soakPhase) growthStats { return p.Heap }},
		{"goroutines (go_goroutines)", func(s soakSample) float64 { return s.Goroutines }, func(p soakPhase) growthStats { return p.Goroutines }},
	}
	h := soakPlotTop + len(panels)*soakPlotPanelH + (len(panels)-1)*soakPlotGap + soakPlotBottom
	img := image.NewRGBA(image.Rect(0, 0, soakPlotW, h))
	fill(img, img.Bounds(), plotBG)

	req := fmt.Sprintf("%d requests", res.Requests)
	if res.Duration != "" {
		req = "requests for " + res.Duration
	}
	text(img, plotMargin, 18, fmt.Sprintf("yatagarasu soak %s  nproc=%d  load avg %s  (%s, %d reloads, %d conns GET /bench/%s)",
		res.Started.Format("2006-01-02 15:04"), res.Nproc, res.LoadAvg, req, res.Reloads, res.Conns, res.Object), plotInk)
	// Legend.
	x := plotMargin
	for _, item := range []struct {
		c     color.RGBA
		label string
	}{
		{soakShade[soakPhaseRequest], "phase 1: requests"},
		{soakShade[soakPhaseReload], "phase 2: reloads under load"},
		{soakWarmShade, "warm-up (excluded)"},
		{soakLine, "sample every " + soakInterval.String()},
		{soakMean, "means compared: first vs last 10%"},
	} {
		fill(img, image.Rect(x, 32, x+12, 44), item.c)
		text(img, x+16, 43, item.label, plotInk)
		x += 16 + len(item.label)*plotCharW + 16
	}

	t0, t1 := samples[0].T, samples[len(samples)-1].T
	unit, div := soakTimeUnit(t1 - t0)
	area := func(i int) image.Rectangle {
		top := soakPlotTop + i*(soakPlotPanelH+soakPlotGap) + 16
		return image.Rect(soakPlotLeft, top, soakPlotW-soakPlotRight, top+soakPlotPanelH-16)
	}
	xOf := func(r image.Rectangle, t float64) int {
		return r.Min.X + int(math.Round(float64(r.Dx())*(t-t0)/(t1-t0)))
	}
	for i, pn := range panels {
		r := area(i)
		text(img, r.Min.X, r.Min.Y-6, pn.title, plotInk)
		// Phases and their warm-ups.
		for _, p := range res.Phases {
			x0, x1 := max(xOf(r, p.Start), r.Min.X), min(xOf(r, p.End), r.Max.X)
			fill(img, image.Rect(x0, r.Min.Y, x1, r.Max.Y), soakShade[p.Name])
			if w := min(xOf(r, p.WarmupEnd), x1); w > x0 {
				fill(img, image.Rect(x0, r.Min.Y, w, r.Max.Y), soakWarmShade)
			}
			if i == 0 {
				text(img, x0+3, r.Min.Y+13, clip(p.Name, max(0, (x1-x0-6)/plotCharW)), plotFaint)
			}
		}
		top := 0.0
		for _, s := range samples {
			top = max(top, pn.value(s))
		}
		top = niceCeil(top * 1.1)
		yOf := func(v float64) int { return r.Max.Y - int(math.Round(float64(r.Dy())*v/top)) }
		for k := 0; k <= 4; k++ {
			v := top * float64(k) / 4
			y := yOf(v)
			fill(img, image.Rect(r.Min.X, y, r.Max.X, y+1), plotGrid)
			label := strconv.FormatFloat(v, 'f', -1, 64)
			if len(label) > 7 {
				label = fmtNum(v)
			}
			text(img, r.Min.X-4-len(label)*plotCharW, y+4, label, plotFaint)
		}
		// Time ticks.
		step := soakNiceStep((t1 - t0) / div / 8)
		for v := 0.0; v <= (t1-t0)/div+1e-9; v += step {
			x := xOf(r, t0+v*div)
			fill(img, image.Rect(x, r.Max.Y, x+1, r.Max.Y+4), plotInk)
			label := strconv.FormatFloat(v, 'f', -1, 64)
			text(img, x-len(label)*plotCharW/2, r.Max.Y+16, label, plotFaint)
		}
		fill(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y+1), plotInk)
		fill(img, image.Rect(r.Min.X, r.Max.Y, r.Max.X, r.Max.Y+1), plotInk)
		// The series.
		for k := 1; k < len(samples); k++ {
			a, b := samples[k-1], samples[k]
			drawLine(img, xOf(r, a.T), yOf(pn.value(a)), xOf(r, b.T), yOf(pn.value(b)), soakLine)
		}
		// The compared means.
		for _, p := range res.Phases {
			g := pn.growth(p)
			if g.Samples == 0 {
				continue
			}
			for _, seg := range [][3]float64{{g.FirstFrom, g.FirstTo, g.First}, {g.LastFrom, g.LastTo, g.Last}} {
				xa, xb, y := xOf(r, seg[0])-3, xOf(r, seg[1])+3, yOf(seg[2])
				fill(img, image.Rect(xa, y-1, xb, y+2), soakMean)
			}
		}
	}
	last := area(len(panels) - 1)
	axis := fmt.Sprintf("time since the soak started (%s)", unit)
	text(img, last.Min.X+last.Dx()/2-len(axis)*plotCharW/2, last.Max.Y+36, axis, plotInk)

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: soak plot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		_ = f.Close()
		return fmt.Errorf("bench: soak plot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: soak plot: %w", err)
	}
	return nil
}

// soakTimeUnit picks the time axis unit for a span in seconds: its name
// and its length in seconds.
func soakTimeUnit(span float64) (string, float64) {
	switch {
	case span > 3*3600:
		return "h", 3600
	case span > 20*60:
		return "min", 60
	}
	return "s", 1
}

// soakNiceStep rounds v up to 1, 2 or 5 times a power of ten.
func soakNiceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// drawLine draws a one-pixel line from (x0, y0) to (x1, y1) (Bresenham).
func drawLine(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
