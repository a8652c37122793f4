package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // PNG
	_ "gonum.org/v1/plot/vg/vgsvg" // SVG
)

// minPlotMS is the floor of the latency axis: steps whose percentile is
// below it are drawn at it (a log axis has no zero).
const minPlotMS = 0.001

// minPlotQPS is the floor of the queries/s axis, also logarithmic.
const minPlotQPS = 1

// writePlot draws into file, an SVG or PNG image by its extension, for
// each profile two panels side by side: the p50 (dashed) and p99 (solid)
// latency of each time step and the upstream queries received per second
// in each step, one line per peer, both on log scales (queries/s on a
// linear one up to three times the ceiling, drawn dashed, for profiles
// with a ceiling). The fault windows of servfail and outage are shaded, as
// met by the first peer.
func writePlot(file string, r *report) error {
	var rows [][]*plot.Plot
	for _, prof := range r.Profiles {
		lat := plot.New()
		lat.Title.Text = fmt.Sprintf("%s: latency, p50 dashed, p99 solid", prof.Name)
		lat.X.Label.Text = "seconds"
		lat.Y.Label.Text = "ms"
		lat.Y.Scale = plot.LogScale{}
		lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		lat.Legend.Top = true

		qps := plot.New()
		qps.Title.Text = fmt.Sprintf("%s: upstream queries/s", prof.Name)
		qps.X.Label.Text = "seconds"
		qps.Y.Label.Text = "queries/s"
		qps.Legend.Top = true
		// Under a ceiling the figures to compare are near it: a linear
		// axis, with the ceiling drawn. Elsewhere they span decades.
		var ceiling *result
		for _, res := range r.Results {
			if res.Profile == prof.Name && len(res.Ceilings) > 0 {
				ceiling = res
				break
			}
		}
		if ceiling == nil {
			qps.Y.Scale = plot.LogScale{}
			qps.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		} else {
			var pts plotter.XYs
			for i, c := range ceiling.Ceilings {
				pts = append(pts, plotter.XY{X: float64(i) * ceiling.Step, Y: c}, plotter.XY{X: float64(i+1) * ceiling.Step, Y: c})
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color, l.Width = color.Gray{Y: 96}, vg.Points(1)
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			qps.Add(l)
			qps.Legend.Add("ceiling", l)
		}

		maxLat, maxQPS, maxT := minPlotMS, float64(minPlotQPS), 1.0
		var window *result
		for _, res := range r.Results {
			if res.Profile == prof.Name && res.FaultEnd > 0 {
				window = res
				break
			}
		}
		if window != nil {
			// The band first, so that the lines are drawn over it; it is
			// clipped to the axes set below.
			if err := shade(lat, window.FaultStart, window.FaultEnd, minPlotMS, 1e9); err != nil {
				return err
			}
			if err := shade(qps, window.FaultStart, window.FaultEnd, minPlotQPS, 1e12); err != nil {
				return err
			}
		}
		for _, res := range r.Results {
			if res.Profile != prof.Name {
				continue
			}
			col := plotutil.Color(slices.Index(allPeers, res.Peer))
			p99, p50 := seriesXYs(res.P99Series, res.Step), seriesXYs(res.P50Series, res.Step)
			for _, pts := range []plotter.XYs{p99, p50} {
				for _, p := range pts {
					maxLat, maxT = max(maxLat, p.Y), max(maxT, p.X)
				}
			}
			if len(p99) > 0 {
				l99, err := plotter.NewLine(p99)
				if err != nil {
					return err
				}
				l99.Color, l99.Width = col, vg.Points(1.2)
				l50, err := plotter.NewLine(p50)
				if err != nil {
					return err
				}
				l50.Color, l50.Width = col, vg.Points(1)
				l50.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
				lat.Add(l99, l50)
				lat.Legend.Add(res.Peer, l99)
			}

			q := make(plotter.XYs, len(res.UpstreamQPS))
			for i, v := range res.UpstreamQPS {
				q[i] = plotter.XY{X: (float64(i) + 0.5) * res.Step, Y: max(v, minPlotQPS)}
				maxQPS, maxT = max(maxQPS, v), max(maxT, q[i].X)
			}
			if len(q) > 0 {
				l, err := plotter.NewLine(q)
				if err != nil {
					return err
				}
				l.Color, l.Width = col, vg.Points(1.2)
				qps.Add(l)
				qps.Legend.Add(res.Peer, l)
			}
		}
		lat.Y.Min, lat.Y.Max = minPlotMS, maxLat*2
		qps.Y.Min, qps.Y.Max = minPlotQPS, maxQPS*2
		if ceiling != nil {
			// Peers that retry without pacing send many times the
			// ceiling; the axis stops at three times it.
			qps.Y.Min, qps.Y.Max = 0, 3*slices.Max(ceiling.Ceilings)
		}
		for _, p := range []*plot.Plot{lat, qps} {
			p.X.Min, p.X.Max = 0, maxT*1.02
		}
		rows = append(rows, []*plot.Plot{lat, qps})
	}
	if len(rows) == 0 {
		return fmt.Errorf("nothing to plot")
	}

	width, rowHeight := 11*vg.Inch, 3*vg.Inch
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(file), "."))
	img, err := draw.NewFormattedCanvas(width, rowHeight*vg.Length(len(rows)), format)
	if err != nil {
		return fmt.Errorf("%s: %w (use .svg or .png)", file, err)
	}
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(rows), Cols: 2, PadX: vg.Millimeter * 8, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(rows, tiles, dc)
	for i, row := range rows {
		for j, p := range row {
			p.Draw(canvases[i][j])
		}
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// seriesXYs turns a series with one value per step seconds into points
// at the middle of each step, leaving out steps without samples.
func seriesXYs(s []float64, step float64) plotter.XYs {
	var pts plotter.XYs
	for i, v := range s {
		if v > 0 {
			pts = append(pts, plotter.XY{X: (float64(i) + 0.5) * step, Y: max(v, minPlotMS)})
		}
	}
	return pts
}

// shade draws a light grey band over [x0, x1], behind the lines.
func shade(p *plot.Plot, x0, x1, y0, y1 float64) error {
	poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	if err != nil {
		return err
	}
	poly.Color = color.NRGBA{R: 128, G: 128, B: 128, A: 48}
	poly.LineStyle.Width = 0
	p.Add(poly)
	return nil
}
