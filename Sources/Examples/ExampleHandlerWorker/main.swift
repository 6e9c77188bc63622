import ExampleHandler
import Glibc
import Modules

// The example server's handler as a worker: `example-handler-module [VERSION]` serves it on descriptor 3.
exit(ModuleWorker.main(Array(CommandLine.arguments.dropFirst()), versions: ExampleHandler.versions, latest: ExampleHandler.latest,
                       program: "example-handler-module"))
