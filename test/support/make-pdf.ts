import { PDFDocument, StandardFonts } from 'pdf-lib';

/** A real PDF (pdf-lib) with one page per entry, each page's text as lines of Helvetica. */
export async function makePdf(pages: string[], title?: string): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  if (title) pdf.setTitle(title);
  for (const text of pages) {
    const page = pdf.addPage([612, 792]);
    const lines = text.match(/.{1,90}(\s|$)/g) ?? [];
    lines.forEach((line, i) =>
      page.drawText(line.trim(), { x: 40, y: 750 - i * 14, size: 11, font }),
    );
  }
  return pdf.save();
}
