// The Dapr scheduler (Jobs API backend), built from the same pinned module.
package main

import "github.com/dapr/dapr/cmd/scheduler/app"

func main() {
	app.Run()
}
