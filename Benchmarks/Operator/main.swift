// bench-operator: see hack/bench/operator.sh (filled in below).
print("bench-operator: not implemented yet")
