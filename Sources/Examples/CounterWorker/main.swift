import CounterModule
import Glibc
import Modules

// A counter module worker: `counter-module [VERSION]` serves that version on descriptor 3.
exit(ModuleWorker.main(Array(CommandLine.arguments.dropFirst()), versions: CounterModule.versions, latest: CounterModule.latest, program: "counter-module"))
