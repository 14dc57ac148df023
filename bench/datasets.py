"""Make (once) the generated shapefiles the benchmarks read: 10,000 and 100,000 wetlands."""

from bench.prepare import wetlands_zip

if __name__ == "__main__":
    for count in (10_000, 100_000):
        print(wetlands_zip(count))
