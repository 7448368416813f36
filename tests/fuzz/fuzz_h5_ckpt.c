/* Fuzz harness: checkpoint files (mpi/ckpt.c pl_ckpt_read, and pl_h5_info
 * for `plastic info`), through parallel HDF5 on one rank.
 *
 * Input: the bytes of a file, written to a temporary file and read as a
 * checkpoint into each scenario (h5_support.h: KH with K = 8 and bp on a
 * two-layer net, both on 4x4 inputs), then described by pl_h5_info.
 * Properties:
 *   - pl_ckpt_read returns 0, PL_EXIT_DATA or PL_EXIT_USAGE; a failure
 *     prints exactly one message, one line naming the file; a success none;
 *   - on success the cursor is sane (stage 0..nstages, "done" being
 *     nstages, and the stage the file's /data phase names; epoch and batch
 *     as the file stores them, and >= 0, as step, wrong and metrics_bytes
 *     are), every array holds what the file stores (read again by the
 *     serial HDF5 driver) and that matches its checksum attribute by the
 *     checksum of docs/checkpoint-format.md (written again here, from the
 *     document), /config matches config_checksum, and every optimiser
 *     scalar is the file's;
 *   - each scenario's first model array read by pl_model_read_array from
 *     /model/<name> (kh.init may name a checkpoint): see
 *     fuzz_h5_check_model_reads (h5_support.h);
 *   - pl_h5_info: see fuzz_h5_check_info (h5_support.h);
 *   - no HDF5 file or object is left open after any call;
 *   - no crash or hang (libFuzzer's -timeout; tests/fuzz/h5_ckpt.options). */
#include "h5_support.h"
#include "support.h"

#include "plastic/ckpt.h"
#include "plastic/common.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_h5_init(argc, argv);
    return 0;
}

static const char *const kind_prefix[] = {
    [PL_ARRAY_MODEL] = "/model/", [PL_ARRAY_STATE] = "/state/", [PL_ARRAY_OPTIM] = "/optim/"};

/* After a successful read: what plastic read is what the file holds. */
static void check_success(const fuzz_scenario *s, const char *path, const pl_cursor *cur)
{
    const pl_rule *rule = s->rule;
    FUZZ_CHECK(cur->stage >= 0 && cur->stage <= rule->nstages && cur->epoch >= 0 &&
                   cur->pos.batch >= 0,
               "%s: a read cursor of stage %d, epoch %d, batch %d", s->name, cur->stage,
               cur->epoch, cur->pos.batch);
    hid_t file = fuzz_h5_open(path);
    FUZZ_CHECK(file >= 0, "%s: plastic read the checkpoint, serial HDF5 cannot open it", s->name);
    char *phase = fuzz_h5_string_attr(file, "/data", "phase");
    FUZZ_CHECK(phase && strcmp(phase, pl_rule_stage_name(rule, cur->stage)) == 0,
               "%s: read stage %s, but /data phase is '%s'", s->name,
               pl_rule_stage_name(rule, cur->stage), phase ? phase : "(none)");
    free(phase);
    /* the counts as stored (no narrowing), and none negative: a resumed run
     * starts from them and cuts metrics.jsonl to metrics_bytes */
    long epoch = -1, batch = -1;
    FUZZ_CHECK(fuzz_h5_long_attr(file, "/data", "epoch", &epoch) &&
                   fuzz_h5_long_attr(file, "/data", "batch", &batch) && epoch == cur->epoch &&
                   batch == cur->pos.batch,
               "%s: read epoch %d batch %d, the file holds %ld and %ld", s->name, cur->epoch,
               cur->pos.batch, epoch, batch);
    FUZZ_CHECK(cur->step >= 0 && cur->metrics_bytes >= 0 && cur->pos.wrong >= 0,
               "%s: read step %ld, metrics_bytes %ld, wrong %ld", s->name, cur->step,
               cur->metrics_bytes, cur->pos.wrong);

    for (int i = 0; i < s->state->narrays; i++) {
        const pl_array *a = &s->state->arrays[i];
        /* one rank holds every array whole */
        FUZZ_CHECK(a->count[0] == a->dims[0] && a->count[1] == a->dims[1],
                   "%s: %s is not held whole", s->name, a->name);
        char name[128];
        snprintf(name, sizeof name, "%s%s", kind_prefix[a->kind], a->name);
        int size = pl_dtype_size(a->dtype);
        size_t bytes = (size_t)(a->dims[0] * a->dims[1]) * (size_t)size;
        void *stored = malloc(bytes ? bytes : 1);
        FUZZ_CHECK(stored != NULL, "out of memory");
        FUZZ_CHECK(fuzz_h5_read_2d(file, name, a->dtype, a->dims[0], a->dims[1], stored),
                   "%s: plastic read %s, serial HDF5 cannot", s->name, name);
        FUZZ_CHECK(memcmp(stored, a->data, bytes) == 0, "%s: %s read differs from the file",
                   s->name, name);
        long sum = 0;
        FUZZ_CHECK(fuzz_h5_long_attr(file, name, "checksum", &sum) &&
                       (uint64_t)sum == fuzz_h5_checksum(stored, a->dims[0], a->dims[1], size),
                   "%s: %s was read, but fails its checksum", s->name, name);
        free(stored);
    }
    for (int i = 0; i < s->state->nscalars; i++) {
        const pl_scalar *x = &s->state->scalars[i];
        char group[128];
        snprintf(group, sizeof group, "/optim/%s", x->group);
        long v = 0;
        FUZZ_CHECK(fuzz_h5_long_attr(file, group, x->name, &v) && v == *x->value,
                   "%s: scalar %s %s read as %ld, the file holds %ld", s->name, group, x->name,
                   *x->value, v);
    }
    /* /config: a scalar fixed-length string, checksummed as bytes */
    hid_t d = H5Dopen2(file, "/config", H5P_DEFAULT);
    FUZZ_CHECK(d >= 0, "%s: read, but /config cannot be opened", s->name);
    hid_t type = H5Dget_type(d), mem = H5Tcopy(H5T_C_S1);
    size_t size = H5Tget_size(type);
    H5Tset_size(mem, size);
    char *text = calloc(size + 1, 1);
    FUZZ_CHECK(text && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) >= 0,
               "%s: read, but /config cannot be read", s->name);
    long sum = 0;
    FUZZ_CHECK(fuzz_h5_long_attr(file, "/", "config_checksum", &sum) &&
                   (uint64_t)sum == fuzz_h5_checksum(text, 1, (long)strlen(text), 1),
               "%s: read, but /config fails config_checksum", s->name);
    free(text);
    H5Tclose(mem);
    H5Tclose(type);
    H5Dclose(d);
    H5Fclose(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("ckpt.h5", data, size);
    for (int i = 0; i < FUZZ_NSCENARIOS; i++) {
        const fuzz_scenario *s = fuzz_h5_scenario(i);
        pl_cursor cur = {0};
        fuzz_h5_capture_begin();
        int rc = pl_ckpt_read(path, &s->ctx, &cur);
        const char *msgs;
        int nmsg = fuzz_h5_capture_end(&msgs);
        char what[64];
        snprintf(what, sizeof what, "pl_ckpt_read (%s)", s->name);
        fuzz_h5_check_closed(what);
        FUZZ_CHECK(rc == 0 || rc == PL_EXIT_DATA || rc == PL_EXIT_USAGE, "%s returned %d", what,
                   rc);
        fuzz_h5_check_messages(rc, nmsg, msgs, path, what);
        if (rc == 0)
            check_success(s, path, &cur);
    }
    /* a checkpoint is also a model file (kh.init may name one) */
    fuzz_h5_check_model_reads(path, 0);
    fuzz_h5_check_info(path, data, size);
    fuzz_remove("ckpt.h5");
    return 0;
}
