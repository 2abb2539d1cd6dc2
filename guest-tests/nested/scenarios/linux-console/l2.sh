# L2 side of linux-console: read one line from the console, echo it changed.
echo "PMVM-CONSOLE-READY"
read -r line
echo "ECHO:$(echo "$line" | tr a-z A-Z)"
