from triage.cli import console

console()
