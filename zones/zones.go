// Package zones embeds the demo zone that lets `mxroute` answer offline on
// its defaults: the seed's MX layouts, a null MX, an implicit MX and an
// alias, under reserved names.
package zones

import _ "embed"

// Demo is the master file text of zones/demo.zone.
//
//go:embed demo.zone
var Demo []byte
