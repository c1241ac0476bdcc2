package config

import (
	"encoding/hex"
	"net/url"
	"os"
	"strings"
)

// decodeArchive reads Crossbar's `archive` path service (crossbar/webservice/archive.py): the
// keys its checkconfig takes, with `options.default_file`, the one option its resource reads.
func (d *decoder) decodeArchive(o *obj, place, dir string) *Archive {
	a := &Archive{}
	o.boolean("download", &a.Download)
	o.boolean("cache", &a.Cache)
	a.DefaultObject, _ = o.str("default_object")
	a.ObjectPrefix, _ = o.str("object_prefix")

	origin, hasOrigin := o.str("origin")
	originOK := true
	if hasOrigin {
		u, err := url.Parse(origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			originOK = false
		} else {
			a.Origin = origin
		}
	}

	file, ok := o.str("archive")
	fv, fp := o.take("archive")
	switch {
	case !ok && !o.has("archive"):
		d.add(o.line(), place, "missing \"archive\" (the ZIP file served, relative to the node directory)")
	case !ok:
	case file == "":
		d.add(fv.line, fp, "empty: name the ZIP file served, relative to the node directory")
	default:
		a.File = abs(dir, file)
		fi, err := os.Stat(a.File)
		switch {
		case err == nil && !fi.Mode().IsRegular():
			d.add(fv.line, fp, "%s is not a file", a.File)
		case err == nil:
		case !os.IsNotExist(err):
			d.add(fv.line, fp, "%s", statMsg(err, a.File))
		case !hasOrigin:
			// Crossbar refuses to start the transport ("missing origin"); Portico serves the
			// rest of the node, as for a static directory that does not exist.
			d.warn(fv.line, fp, "%s does not exist and there is no \"origin\" to download it from: the path answers 404", a.File)
		case !a.Download:
			d.warn(fv.line, fp, "%s does not exist and \"download\" is false: the path answers 404, as from Crossbar", a.File)
		}
		if hasOrigin && !originOK {
			ov, op := o.take("origin")
			msg := "%q is not an http or https URL"
			if err == nil {
				// Crossbar looks at the origin only when the archive is missing.
				d.warn(ov.line, op, msg+": it is not used while the archive exists", origin)
			} else {
				d.add(ov.line, op, msg+": the archive cannot be downloaded", origin)
			}
		}
	}

	hs, hp := o.list("hashes")
	for i, e := range hs {
		if e.kind != kString {
			d.add(e.line, elemPlace(e, hp, i), "want a string, got %s", e.kind)
			continue
		}
		h := strings.ToLower(e.s)
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			d.add(e.line, elemPlace(e, hp, i), "%q is not a SHA-256 fingerprint (64 hexadecimal digits)", e.s)
			continue
		}
		a.Hashes = append(a.Hashes, h)
	}

	if mt, ok := o.strMap("mime_types"); ok {
		mv, mp := o.take("mime_types")
		a.MimeTypes = make(map[string]string, len(mt))
		for _, ext := range sortedKeys(mt) {
			// Crossbar looks a member up by its last extension (os.path.splitext): a key
			// without a dot or with two never matches there, nor here.
			switch {
			case !strings.HasPrefix(ext, ".") || len(ext) < 2:
				d.warn(mv.line, childPlace(mp, ext), "never used: an extension starts with \".\" (\".woff2\")")
			case strings.Count(ext, ".") > 1:
				d.warn(mv.line, childPlace(mp, ext), "never used: a member's type is looked up by its last extension only (%q for %q), as in Crossbar", ext[strings.LastIndexByte(ext, '.'):], "name"+ext)
			default:
				a.MimeTypes[strings.ToLower(ext)] = mt[ext]
			}
		}
	}

	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		x := d.object(ov, op)
		if df, ok := x.str("default_file"); ok {
			if df == "" {
				dv, dp := x.take("default_file")
				d.add(dv.line, dp, "empty: name the member served when a request names none")
			}
			a.DefaultFile = df
		}
		x.done()
	}
	return a
}
