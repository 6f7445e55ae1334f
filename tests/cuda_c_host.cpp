// Host build of the cupy backend's generated CUDA C (sweep/model/cudac.py), for
// tests/test_gpu.py: the formulas translated from Python, index decoding and input
// gathering, checked without a GPU. The test writes the generated source to generated.cu
// and compiles this file with -I pointing there.
//
// usage: cuda_c_host IN OUT
//   IN:  int64 ndim, width, n_out, n_points; int64 shape[ndim], bind[TS_NIN];
//        float64 table[TS_NIN * width]
//   OUT: float64 values[n_out * n_points], then float32 values[n_out * n_points]
#include <cmath>
#include <cstdio>
#include <vector>

#define TS_HD
#include "generated.cu"

static bool read_all(FILE *f, void *dst, size_t size, size_t n) {
    return std::fread(dst, size, n, f) == n;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
        return 2;
    }
    FILE *in = std::fopen(argv[1], "rb");
    if (!in) return 3;
    long long hdr[4];
    if (!read_all(in, hdr, sizeof(long long), 4)) return 4;
    const int ndim = (int)hdr[0], n_out = (int)hdr[2];
    const long long width = hdr[1], n_points = hdr[3];
    if (n_out != TS_NOUT) return 8;
    std::vector<long long> shape(ndim), bind(TS_NIN);
    std::vector<double> table(TS_NIN * width);
    if (!read_all(in, shape.data(), sizeof(long long), ndim) ||
        !read_all(in, bind.data(), sizeof(long long), TS_NIN) ||
        !read_all(in, table.data(), sizeof(double), table.size()))
        return 5;
    std::fclose(in);
    std::vector<double> out64(n_out * n_points);
    std::vector<float> out32(n_out * n_points);
    for (long long p = 0; p < n_points; ++p) {
        ts_point<double>(p, table.data(), width, bind.data(), shape.data(), ndim, out64.data(),
                         n_points);
        ts_point<float>(p, table.data(), width, bind.data(), shape.data(), ndim, out32.data(),
                        n_points);
    }
    FILE *out = std::fopen(argv[2], "wb");
    if (!out) return 6;
    std::fwrite(out64.data(), sizeof(double), out64.size(), out);
    std::fwrite(out32.data(), sizeof(float), out32.size(), out);
    return std::fclose(out) == 0 ? 0 : 7;
}
