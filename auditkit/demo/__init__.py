"""The built-in demo tenant (seeded, no Azure needed), its flow logs, and synthetic NSG records
for benchmarks."""
