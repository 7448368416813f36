/* Fuzz harness: model files (mpi/h5model.c pl_model_read_array, as
 * kh.init reads one, and pl_h5_info for `plastic info`), through parallel
 * HDF5 on one rank.
 *
 * Input: the bytes of a file, written to a temporary file; every model
 * array of each scenario (h5_support.h: KH with K = 8, bp on a two-layer
 * net, both on 4x4 inputs) is read from it, then pl_h5_info describes it.
 * Properties:
 *   - pl_model_read_array returns 0 or PL_EXIT_DATA; a failure prints
 *     exactly one message, one line naming the file; a success none, and
 *     the array then holds what the file stores (read again by the serial
 *     HDF5 driver);
 *   - pl_h5_info: see fuzz_h5_check_info (h5_support.h);
 *   - no HDF5 file or object is left open after any call;
 *   - no crash or hang (libFuzzer's -timeout; tests/fuzz/h5_model.options). */
#include "h5_support.h"
#include "support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_h5_init(argc, argv);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("model.h5", data, size);
    fuzz_h5_check_model_reads(path, 1);
    fuzz_h5_check_info(path, data, size);
    fuzz_remove("model.h5");
    return 0;
}
