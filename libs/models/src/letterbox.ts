// Fitting an image into a model's input and back: the image is scaled (aspect kept) to a content
// rectangle placed centred in the input, the rest padded. Coordinates map back exactly because each
// axis uses the content's own size over the image's (rounding of the content size included).

export interface Letterbox {
  /** The model input, pixels. */
  inputWidth: number;
  inputHeight: number;
  /** The scaled image inside the input. */
  contentWidth: number;
  contentHeight: number;
  offsetX: number;
  offsetY: number;
  /** The image that was fitted. */
  imageWidth: number;
  imageHeight: number;
}

/** The centred letterbox of an imageWidth × imageHeight image in an inputWidth × inputHeight input. */
export function fitLetterbox(imageWidth: number, imageHeight: number, inputWidth: number, inputHeight: number): Letterbox {
  if (!(imageWidth >= 1 && imageHeight >= 1 && inputWidth >= 1 && inputHeight >= 1)) {
    throw new RangeError(`letterbox of ${imageWidth}x${imageHeight} into ${inputWidth}x${inputHeight}: sizes must be >= 1`);
  }
  const scale = Math.min(inputWidth / imageWidth, inputHeight / imageHeight);
  const contentWidth = Math.min(inputWidth, Math.max(1, Math.round(imageWidth * scale)));
  const contentHeight = Math.min(inputHeight, Math.max(1, Math.round(imageHeight * scale)));
  return {
    inputWidth,
    inputHeight,
    contentWidth,
    contentHeight,
    offsetX: Math.floor((inputWidth - contentWidth) / 2),
    offsetY: Math.floor((inputHeight - contentHeight) / 2),
    imageWidth,
    imageHeight,
  };
}

/**
 * The input size for a model that takes any size in steps of `multiple` (MoveNet MultiPose): the
 * image's long side becomes `longSide`, the short side is rounded up to the step, so the padding is
 * less than one step.
 */
export function dynamicInputSize(imageWidth: number, imageHeight: number, longSide: number, multiple: number): { width: number; height: number } {
  const scale = longSide / Math.max(imageWidth, imageHeight);
  const up = (v: number): number => Math.max(multiple, Math.ceil((v * scale) / multiple) * multiple);
  return imageWidth >= imageHeight ? { width: longSide, height: Math.min(longSide, up(imageHeight)) } : { width: Math.min(longSide, up(imageWidth)), height: longSide };
}

/** An input x coordinate (pixels of the model input) in image pixels. */
export function inputToImageX(box: Letterbox, x: number): number {
  return ((x - box.offsetX) * box.imageWidth) / box.contentWidth;
}

/** An input y coordinate (pixels of the model input) in image pixels. */
export function inputToImageY(box: Letterbox, y: number): number {
  return ((y - box.offsetY) * box.imageHeight) / box.contentHeight;
}

/** An image x coordinate in pixels of the model input (the inverse of inputToImageX). */
export function imageToInputX(box: Letterbox, x: number): number {
  return box.offsetX + (x * box.contentWidth) / box.imageWidth;
}

/** An image y coordinate in pixels of the model input (the inverse of inputToImageY). */
export function imageToInputY(box: Letterbox, y: number): number {
  return box.offsetY + (y * box.contentHeight) / box.imageHeight;
}
