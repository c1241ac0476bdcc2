package config

// InitFiles returns the files `portico init [--toml]` writes (relative path -> content): the
// Flask example of Crossbar's WSGI Host Service documentation (myapp.py and
// templates/index.html) served at "/", and WAMP at "/ws", on port 8080. The node directory is
// .crossbar/, as `crossbar init` makes it, with config.json, or config.toml when toml is true.
func InitFiles(toml bool) map[string][]byte {
	files := map[string][]byte{
		"myapp.py":             []byte(initApp),
		"templates/index.html": []byte(initTemplate),
	}
	if toml {
		files[".crossbar/config.toml"] = []byte(initTOML)
	} else {
		files[".crossbar/config.json"] = []byte(initJSON)
	}
	return files
}

const initApp = `from flask import Flask, render_template

# The WSGI application that Portico serves at "/" (see .crossbar/ for the node config).
app = Flask(__name__)


@app.route('/')
def page_home():
    return render_template('index.html', message="Hello from Portico")
`

const initTemplate = `<!DOCTYPE html>
<html>
   <body>
      <h1>{{ message }}</h1>
   </body>
</html>
`

const initJSON = `{
   "version": 2,
   "controller": {
   },
   "workers": [
      {
         "type": "router",
         "options": {
            "pythonpath": [".."]
         },
         "realms": [
            {
               "name": "realm1",
               "roles": [
                  {
                     "name": "anonymous",
                     "permissions": [
                        {
                           "uri": "",
                           "match": "prefix",
                           "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                           "disclose": {"caller": false, "publisher": false},
                           "cache": true
                        }
                     ]
                  }
               ]
            }
         ],
         "transports": [
            {
               "type": "web",
               "endpoint": {
                  "type": "tcp",
                  "port": 8080
               },
               "paths": {
                  "/": {
                     "type": "wsgi",
                     "module": "myapp",
                     "object": "app"
                  },
                  "ws": {
                     "type": "websocket"
                  }
               }
            }
         ]
      }
   ]
}
`

const initTOML = `# Portico node: a Flask app at "/" and WAMP at "/ws" on port 8080.
# Reference: docs/configuration.md

[router]
# Python path of the WSGI apps, relative to this directory: ".." is the project root.
pythonpath = [".."]

[[realm]]
name = "realm1"

  [[realm.role]]
  name = "anonymous"

    [[realm.role.permission]]
    uri = ""
    match = "prefix"
    allow = { call = true, register = true, publish = true, subscribe = true }

[[transport]]
endpoint = { type = "tcp", port = 8080 }

  [transport.paths."/"]
  type = "wsgi"
  module = "myapp"
  object = "app"

  [transport.paths.ws]
  type = "websocket"
`
