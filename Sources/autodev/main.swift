import Glibc
import Platform

ProcessControl.ignoreBrokenPipe()
let status = CLI.main(Array(CommandLine.arguments.dropFirst()))
exit(status)
