/* EROFS on-disk layout: the parts tug writes (uncompressed, extended inodes, inline xattrs,
 * flat and chunk-based data). Written from the kernel's EROFS documentation; every integer is
 * little-endian, and this header is only used on little-endian hosts (checked below). */
#pragma once
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "erofs_format.h describes a little-endian layout in host order"
#endif

#define EROFS_MAGIC 0xE0F5E1E2u
#define EROFS_SB_OFFSET 1024 /* the superblock's byte offset in block 0 */
#define EROFS_BLKBITS 12
#define EROFS_BLKSIZE (1u << EROFS_BLKBITS)
#define EROFS_NID_SHIFT 5           /* an nid counts 32-byte slots from the metadata area's start */
#define EROFS_NULL_ADDR 0xFFFFFFFFu /* a chunk with no blocks: a hole */

#define EROFS_INCOMPAT_CHUNKED_FILE 0x00000004u

struct erofs_sb {
    uint32_t magic;
    uint32_t checksum; /* crc32c, only read with the SB_CHKSUM compat feature (not set) */
    uint32_t feature_compat;
    uint8_t blkszbits;
    uint8_t sb_extslots;
    uint16_t root_nid;
    uint64_t inos;
    uint64_t build_time;
    uint32_t build_time_nsec;
    uint32_t blocks;
    uint32_t meta_blkaddr;
    uint32_t xattr_blkaddr;
    uint8_t uuid[16];
    uint8_t volume_name[16];
    uint32_t feature_incompat;
    uint16_t u1;
    uint16_t extra_devices;
    uint16_t devt_slotoff;
    uint8_t dirblkbits;
    uint8_t xattr_prefix_count;
    uint32_t xattr_prefix_start;
    uint64_t packed_nid;
    uint8_t xattr_filter_reserved;
    uint8_t reserved2[23];
} __attribute__((packed));
_Static_assert(sizeof(struct erofs_sb) == 128, "erofs superblock is 128 bytes");

/* i_format: bit 0 the inode version (1: extended), bits 1-3 the data layout */
#define EROFS_INODE_EXTENDED 1u
#define EROFS_LAYOUT_SHIFT 1
#define EROFS_FLAT_PLAIN 0u
#define EROFS_FLAT_INLINE 2u /* full blocks at i_u, the last partial one after the inode */
#define EROFS_CHUNK_BASED 4u

/* i_u of a chunk-based inode: log2 of blocks per chunk; without the INDEXES bit (0x20) the
 * inode is followed by one le32 block address per chunk */
#define EROFS_CHUNK_BLKBITS_MASK 0x1Fu

struct erofs_inode_ext {
    uint16_t i_format;
    uint16_t i_xattr_icount; /* 0: none; else (xattr ibody bytes - 12) / 4 + 1 */
    uint16_t i_mode;
    uint16_t i_reserved;
    uint64_t i_size;
    uint32_t i_u; /* first block, rdev, or chunk format */
    uint32_t i_ino;
    uint32_t i_uid;
    uint32_t i_gid;
    uint64_t i_mtime;
    uint32_t i_mtime_nsec;
    uint32_t i_nlink;
    uint8_t i_reserved2[16];
} __attribute__((packed));
_Static_assert(sizeof(struct erofs_inode_ext) == 64, "extended inode is 64 bytes");

struct erofs_xattr_ibody_header {
    uint32_t h_name_filter; /* only read with the XATTR_FILTER compat feature (not set) */
    uint8_t h_shared_count;
    uint8_t h_reserved2[7];
} __attribute__((packed));
_Static_assert(sizeof(struct erofs_xattr_ibody_header) == 12, "xattr ibody header is 12 bytes");

/* followed by the name without its prefix, then the value; entries are 4-byte aligned */
struct erofs_xattr_entry {
    uint8_t e_name_len;
    uint8_t e_name_index;
    uint16_t e_value_size;
} __attribute__((packed));

#define EROFS_XATTR_INDEX_USER 1
#define EROFS_XATTR_INDEX_POSIX_ACL_ACCESS 2
#define EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT 3
#define EROFS_XATTR_INDEX_TRUSTED 4
#define EROFS_XATTR_INDEX_SECURITY 6

/* A directory block: dirents sorted by name, then their names (no NULs; a non-final block's
 * last name ends at the block's end or at the first NUL of its padding). nameoff of the
 * first dirent / 12 is the number of dirents in the block. */
struct erofs_dirent {
    uint64_t nid;
    uint16_t nameoff;
    uint8_t file_type;
    uint8_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct erofs_dirent) == 12, "dirent is 12 bytes");

enum {
    EROFS_FT_UNKNOWN,
    EROFS_FT_REG_FILE,
    EROFS_FT_DIR,
    EROFS_FT_CHRDEV,
    EROFS_FT_BLKDEV,
    EROFS_FT_FIFO,
    EROFS_FT_SOCK,
    EROFS_FT_SYMLINK,
};
