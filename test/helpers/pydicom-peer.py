"""DICOS files through Debian's pydicom, a DICOM implementation nobody in this project wrote.

  pydicom-peer.py read FILE       -> the file's samples as pydicom decodes them: little-endian uint16
  pydicom-peer.py write DIR       -> writes the variants below into DIR; prints their names

The variants are what a scanner may send that the toolkit's fixture does not show: implicit VR,
MONOCHROME1, 12 bits stored with the unused high bits set, nested sequences of undefined length.
"""
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

DX_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.501.2.2"


def image(rows, columns, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 65536, size=(rows, columns), dtype=np.uint16)


def dataset(transfer_syntax, samples, photometric="MONOCHROME2", bits_stored=16, nested=0):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_FOR_PROCESSING
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DX_FOR_PROCESSING
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    # Sequences nested `nested` deep, each sequence and item of undefined length (as the DICOS
    # toolkit writes its sequences), so a reader must walk them to their delimiters.
    inner = Dataset()
    inner.CodeValue = "CARGO"
    for _ in range(nested):
        inner.is_undefined_length_sequence_item = True
        outer = Dataset()
        outer.ReferencedImageSequence = Sequence([inner])
        outer["ReferencedImageSequence"].is_undefined_length = True
        inner = outer
    if nested:
        inner.is_undefined_length_sequence_item = True
        ds.ReferencedImageSequence = Sequence([inner])
        ds["ReferencedImageSequence"].is_undefined_length = True
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = samples.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = samples.astype("<u2").tobytes()
    return ds


def write(directory):
    variants = {
        "implicit.dcs": dataset(ImplicitVRLittleEndian, image(37, 53, 1), nested=3),
        "monochrome1.dcs": dataset(ExplicitVRLittleEndian, image(16, 24, 2), photometric="MONOCHROME1"),
        "twelve-bits.dcs": dataset(ExplicitVRLittleEndian, image(20, 30, 3), bits_stored=12),
        "nested.dcs": dataset(ExplicitVRLittleEndian, image(8, 8, 4), nested=12),
    }
    for name, ds in variants.items():
        ds.save_as(f"{directory}/{name}", write_like_original=False)
        print(name)


def read(path):
    ds = pydicom.dcmread(path)
    sys.stdout.buffer.write(ds.pixel_array.astype("<u2").tobytes())


if __name__ == "__main__":
    {"read": read, "write": write}[sys.argv[1]](sys.argv[2])
