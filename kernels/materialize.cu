// token-sweep: the model in CUDA C, for the cupy backend (sweep/gpu.py, CupyBackend).
//
// An independent second implementation of sweep/formulas.py: written separately, with a
// simpler launch (a flat grid-stride loop over the chunk's points, indices decoded per
// point), so that the two GPU backends can be held against each other and against the
// NumPy reference. All arithmetic is in double; the output type only rounds the stored
// value. A zero (or NaN) denominator gives NaN, never inf, as on every backend.
//
// Inputs, as in sweep.planner.ChunkInputs: `table` is (12, width) row-major, input i at
// position p of its axis is table[i * width + p], or table[i * width] when bind[i] < 0
// (a constant); `shape` has `ndim` entries; `out` is (n_out, n_points) row-major.
//
// The formulas are __host__ __device__ so that a host C++ build (tests/cuda_c_host.cpp)
// checks them, and the kernels' loops, on a machine without a GPU.

#ifndef TS_HD
#define TS_HD __host__ __device__
#endif

#define TS_NIN 12
#define TS_MAX_DIMS 12

// input order of sweep.formulas.INPUTS
#define IN_RENT 0
#define IN_CAPEX 1
#define IN_LIFETIME 2
#define IN_RATE 3
#define IN_OPEX 4
#define IN_KW 5
#define IN_PUE 6
#define IN_ELECTRICITY 7
#define IN_TPS 8
#define IN_UTIL 9
#define IN_PRICE 10
#define IN_PEAK 11

TS_HD inline double ts_nan() {
#ifdef __CUDA_ARCH__
    return __longlong_as_double(0x7ff8000000000000LL);
#else
    return __builtin_nan("");  // host builds (g++, clang, nvcc's host pass)
#endif
}

// capital recovery factor, 1/year: rate / (1 - (1 + rate)^-years); 1/years at rate 0
TS_HD inline double ts_crf(double rate, double years) {
    if (!(years > 0.0)) return ts_nan();
    if (rate == 0.0) return 1.0 / years;
    double denom = -expm1(-years * log1p(rate));
    return denom > 0.0 ? rate / denom : ts_nan();
}

// USD per million delivered tokens of an hourly cost
TS_HD inline double ts_per_mtok(double usd_per_hour, double tps, double util) {
    double tokens_per_hour = tps * util * 3600.0;
    return tokens_per_hour > 0.0 ? usd_per_hour / tokens_per_hour * 1.0e6 : ts_nan();
}

// output number `code` of sweep.formulas.OUTPUTS at one point
TS_HD inline double ts_output(long long code, const double *x, double crf) {
    const double capital = x[IN_CAPEX] * crf / 8760.0;
    const double energy = x[IN_KW] * x[IN_PUE] * x[IN_ELECTRICITY];
    const double cost = x[IN_RENT] + capital + x[IN_OPEX] + energy;
    const double facility_kw = x[IN_KW] * x[IN_PUE];
    const double tps = x[IN_TPS];
    const double util = x[IN_UTIL];
    const double price = x[IN_PRICE];
    switch (code) {
    case 0:  // usd_per_gpu_hour
        return cost;
    case 1:  // usd_per_mtok
        return ts_per_mtok(cost, tps, util);
    case 2:  // tokens_per_s_per_mw
        return facility_kw > 0.0 ? tps * 1000.0 / facility_kw : ts_nan();
    case 3:  // joules_per_token
        return tps > 0.0 ? facility_kw * 1000.0 / tps : ts_nan();
    case 4:  // pflops_per_usd_hour
        return cost > 0.0 ? x[IN_PEAK] / cost : ts_nan();
    case 5:  // margin_usd_per_mtok
        return price - ts_per_mtok(cost, tps, util);
    case 6:  // gross_margin
        return price > 0.0 ? (price - ts_per_mtok(cost, tps, util)) / price : ts_nan();
    case 7: {  // breakeven_utilization
        double revenue_at_full_load = price * tps * 3600.0 / 1.0e6;
        return revenue_at_full_load > 0.0 ? cost / revenue_at_full_load : ts_nan();
    }
    case 8:  // mtok_per_gpu_year
        return tps * util * 3600.0 * 8760.0 / 1.0e6;
    case 9: {  // profit_usd_per_mw_year
        if (!(facility_kw > 0.0)) return ts_nan();
        double margin = price - ts_per_mtok(cost, tps, util);
        return margin * (tps * util * 3600.0 * 8760.0 / 1.0e6) * 1000.0 / facility_kw;
    }
    case 10:  // usd_per_mtok_rent
        return ts_per_mtok(x[IN_RENT], tps, util);
    case 11:  // usd_per_mtok_capital
        return ts_per_mtok(capital, tps, util);
    case 12:  // usd_per_mtok_opex
        return ts_per_mtok(x[IN_OPEX], tps, util);
    case 13:  // usd_per_mtok_energy
        return ts_per_mtok(energy, tps, util);
    default:
        return ts_nan();
    }
}

// every output of point p (flat, row-major over `shape`) into out[k * n_points + p]
template <typename T>
TS_HD inline void ts_point(long long p, const double *table, long long width,
                           const long long *bind, const long long *shape, int ndim,
                           const long long *codes, int n_out, T *out, long long n_points) {
    long long idx[TS_MAX_DIMS];
    long long rem = p;
    for (int d = ndim - 1; d >= 0; --d) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
    }
    double x[TS_NIN];
    for (int i = 0; i < TS_NIN; ++i) {
        long long axis = bind[i];
        x[i] = table[i * width + (axis < 0 ? 0 : idx[axis])];
    }
    const double crf = ts_crf(x[IN_RATE], x[IN_LIFETIME]);
    for (int k = 0; k < n_out; ++k) {
        out[k * n_points + p] = (T)ts_output(codes[k], x, crf);
    }
}

#ifdef __CUDACC__
// one thread per point, grid-stride; consecutive threads take consecutive points of the
// innermost axis, so stores coalesce
template <typename T>
__device__ void ts_materialize(const double *table, long long width, const long long *bind,
                               const long long *shape, int ndim, const long long *codes,
                               int n_out, T *out, long long n_points) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < n_points;
         p += stride) {
        ts_point<T>(p, table, width, bind, shape, ndim, codes, n_out, out, n_points);
    }
}

extern "C" __global__ void materialize_f32(const double *table, long long width,
                                           const long long *bind, const long long *shape,
                                           int ndim, const long long *codes, int n_out,
                                           float *out, long long n_points) {
    ts_materialize<float>(table, width, bind, shape, ndim, codes, n_out, out, n_points);
}

extern "C" __global__ void materialize_f64(const double *table, long long width,
                                           const long long *bind, const long long *shape,
                                           int ndim, const long long *codes, int n_out,
                                           double *out, long long n_points) {
    ts_materialize<double>(table, width, bind, shape, ndim, codes, n_out, out, n_points);
}
#endif
