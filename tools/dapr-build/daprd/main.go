// daprd with only the components this project runs locally, pinned by ../go.mod.
// Upstream registers every component behind build tags; registering a handful
// keeps the build to a few minutes. Add a component here before using it in
// dapr/local/.
package main

import (
	mdns "github.com/dapr/components-contrib/nameresolution/mdns"
	nrsqlite "github.com/dapr/components-contrib/nameresolution/sqlite"
	"github.com/dapr/components-contrib/pubsub/kafka"
	"github.com/dapr/components-contrib/state/sqlite"
	"github.com/dapr/dapr/cmd/daprd/app"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
	stateLoader "github.com/dapr/dapr/pkg/components/state"
)

func main() {
	pubsubLoader.DefaultRegistry.RegisterComponent(kafka.NewKafka, "kafka")
	stateLoader.DefaultRegistry.RegisterComponent(sqlite.NewSQLiteStateStore, "sqlite", "sqlite3")
	nrLoader.DefaultRegistry.RegisterComponent(mdns.NewResolver, "mdns")
	nrLoader.DefaultRegistry.RegisterComponent(nrsqlite.NewResolver, "sqlite")
	app.Run()
}
