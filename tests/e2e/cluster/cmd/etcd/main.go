// Command etcd is the etcd server, built from the pinned go.etcd.io/etcd/server
// module. It mirrors the upstream etcd main package, which lives in a module we
// do not want to depend on as a whole.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
